import { basename, extname, join } from 'node:path';
import type { InputConfig, SemanticTestConfig } from '../../config/schema.js';
import type { HostImage } from '../../io/rgb-image.js';
import { resizeSample } from '../../data/semantic-transforms.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';
import { encodeLabelPng, readLabelMap } from '../../io/image.js';
import { SemanticEvaluator } from '@densekit/eval';
import { loadRgb } from '../../io/rgb-image.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import { labelMap, slideScoresHost, wholeScoresHost } from '../../segmentation/sliding-window.js';
import { tfjsSegmenterEngine, type SegmenterEngine } from './onnx-engine.js';

/**
 * Semantic label map of one image at its original size: test-time resize
 * (shorter side to `test_size`), whole or sliding-window scores of the
 * dense stage on `engine` (tfjs by default), stitched on the host, resized
 * back (bilinear) and arg-maxed in bands. Returns row-major class ids.
 */
export async function predictSemantic(
  model: Mask2Former,
  image: HostImage,
  input: InputConfig,
  test: SemanticTestConfig,
  engine: SegmenterEngine = tfjsSegmenterEngine(model),
): Promise<Uint8Array> {
  const { width: W, height: H } = image;
  const scale = input.test_size / Math.min(H, W);
  const h = Math.max(1, Math.round(H * scale));
  const w = Math.max(1, Math.round(W * scale));
  const resized = resizeSample({ image, labels: new Uint8Array(W * H) }, h, w).image;
  const x = model.preprocess([resized], 'test').tensor;
  try {
    const scores = test.mode === 'slide' ? await slideScoresHost(engine.cropScores, x, test.crop_size, test.stride) : await wholeScoresHost(engine.cropScores, x);
    return labelMap(scores, H, W);
  } finally {
    x.dispose();
  }
}

/** Where a prediction's annotations are, to record each image's class areas against them. */
export interface AreaTarget {
  /** Folder of annotation PNGs named as the images (`X.jpg` → `X.png`). */
  gtDir: string;
  numClasses: number;
  reduceZeroLabel: boolean;
  ignoreIndex: number;
}

/** The label PNG's name for an image file: its stem + `.png`. */
export function labelMapName(file: string): string {
  return `${basename(file, extname(file))}.png`;
}

/**
 * One image's class areas against its annotation, as mmseg counts them:
 * rows [class, intersect, pred, label] for each class with any pixel.
 */
export async function imageAreas(labels: Uint8Array, width: number, height: number, file: string, t: AreaTarget): Promise<[number, number, number, number][]> {
  const gtPath = join(t.gtDir, labelMapName(file));
  const gt = await readLabelMap(gtPath);
  if (gt.width !== width || gt.height !== height) throw new DensekitError(`annotation is ${gt.width}x${gt.height}, the image ${width}x${height}`, { file: gtPath });
  const ev = new SemanticEvaluator({ numClasses: t.numClasses, reduceZeroLabel: t.reduceZeroLabel, ignoreIndex: t.ignoreIndex });
  ev.add(labels, gt.data);
  const rows: [number, number, number, number][] = [];
  for (let c = 0; c < t.numClasses; c++) {
    if (ev.areaIntersect[c] || ev.areaPred[c] || ev.areaLabel[c]) rows.push([c, ev.areaIntersect[c]!, ev.areaPred[c]!, ev.areaLabel[c]!]);
  }
  return rows;
}

/**
 * Predict one image's label map and write it as `<name>.png` into `outDir`
 * (atomically); with `areas`, also its class areas against the annotation.
 * An unreadable image throws a DensekitError.
 */
export async function predictLabelMapFile(
  model: Mask2Former,
  file: string,
  outDir: string,
  input: InputConfig,
  test: SemanticTestConfig,
  areas?: AreaTarget,
  engine: SegmenterEngine = tfjsSegmenterEngine(model),
): Promise<{ png: string; areas?: [number, number, number, number][] }> {
  const img = await loadRgb(file);
  const labels = await predictSemantic(model, img, input, test, engine);
  const png = labelMapName(file);
  const rows = areas ? await imageAreas(labels, img.width, img.height, file, areas) : undefined;
  writeFileAtomic(join(outDir, png), await encodeLabelPng(labels, img.width, img.height));
  return { png, ...(rows ? { areas: rows } : {}) };
}
