import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { tf, type Tensor } from '../../engine/tf.js';
import { resize2d } from '../../engine/ops/resize.js';
import type { InputConfig, SemanticTestConfig } from '../../config/schema.js';
import type { HostImage } from '../../io/rgb-image.js';
import { resizeSample } from '../../data/semantic-transforms.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';
import { encodeLabelPng, readLabelMap } from '../../io/image.js';
import { SemanticEvaluator } from '@densekit/eval';
import { loadRgb } from '../../io/rgb-image.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import type { SkippedImage } from '../task.js';
import { segmenterStages } from './stages.js';

/** Class scores [h, w, K] of one normalised image tensor [1, h, w, 3] (h, w multiples of 32). */
function scoresOf(model: Mask2Former, x: Tensor): Tensor {
  return segmenterStages(model).scores(x).squeeze([0]);
}

/** Pad [1, h, w, 3] at the bottom/right to multiples of 32. */
function pad32(x: Tensor): Tensor {
  const [, h, w] = x.shape as [number, number, number, number];
  const ph = Math.ceil(h / 32) * 32 - h;
  const pw = Math.ceil(w / 32) * 32 - w;
  return ph || pw ? tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]]) : x;
}

/** Whole-image scores [h, w, K]. */
export function wholeScores(model: Mask2Former, x: Tensor): Tensor {
  return tf.tidy(() => {
    const [, h, w] = x.shape as [number, number, number, number];
    return scoresOf(model, pad32(x)).slice([0, 0, 0], [h, w, -1]);
  });
}

/**
 * mmseg's slide inference: windows of `crop` every `stride` (the last one
 * shifted to end at the border), each window's scores added into place and
 * divided by how many windows covered each pixel.
 */
export function slideScores(model: Mask2Former, x: Tensor, crop: number, stride: number): Tensor {
  const [, h, w] = x.shape as [number, number, number, number];
  const gh = Math.max(h - crop + stride - 1, 0) / stride;
  const gw = Math.max(w - crop + stride - 1, 0) / stride;
  const nh = Math.floor(gh) + 1;
  const nw = Math.floor(gw) + 1;
  let sum: Tensor | undefined;
  const count = new Float32Array(h * w);
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) {
      const y2 = Math.min(i * stride + crop, h);
      const x2 = Math.min(j * stride + crop, w);
      const y1 = Math.max(y2 - crop, 0);
      const x1 = Math.max(x2 - crop, 0);
      const s = tf.tidy(() => {
        const win = wholeScores(model, x.slice([0, y1, x1, 0], [1, y2 - y1, x2 - x1, 3]));
        return tf.pad(win, [[y1, h - y2], [x1, w - x2], [0, 0]]);
      });
      const next: Tensor = sum ? tf.add(sum, s) : s;
      if (sum) {
        sum.dispose();
        s.dispose();
      }
      sum = next;
      for (let y = y1; y < y2; y++) for (let xx = x1; xx < x2; xx++) count[y * w + xx]!++;
    }
  }
  const out = tf.div(sum!, tf.tensor3d(count, [h, w, 1]));
  sum!.dispose();
  return out;
}

/**
 * Semantic label map of one image at its original size: test-time resize
 * (shorter side to `test_size`), whole or sliding-window scores, scores
 * resized back (bilinear), argmax. Returns row-major class ids.
 */
export function predictSemantic(model: Mask2Former, image: HostImage, input: InputConfig, test: SemanticTestConfig): Uint8Array {
  const { width: W, height: H } = image;
  const scale = input.test_size / Math.min(H, W);
  const h = Math.max(1, Math.round(H * scale));
  const w = Math.max(1, Math.round(W * scale));
  const resized = resizeSample({ image, labels: new Uint8Array(W * H) }, h, w).image;
  const labels = tf.tidy(() => {
    const list = model.preprocess([resized], 'test');
    const scores = test.mode === 'slide' ? slideScores(model, list.tensor, test.crop_size, test.stride) : wholeScores(model, list.tensor);
    const back = resize2d(scores.expandDims(0), H, W, 'linear').squeeze([0]);
    return tf.argMax(back, -1);
  });
  const out = Uint8Array.from(labels.dataSync());
  labels.dispose();
  return out;
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
): Promise<{ png: string; areas?: [number, number, number, number][] }> {
  const img = await loadRgb(file);
  const labels = predictSemantic(model, img, input, test);
  const png = labelMapName(file);
  const rows = areas ? await imageAreas(labels, img.width, img.height, file, areas) : undefined;
  writeFileAtomic(join(outDir, png), await encodeLabelPng(labels, img.width, img.height));
  return { png, ...(rows ? { areas: rows } : {}) };
}

/** Predict label maps for image files and write one `<name>.png` (class ids) per image into a folder. */
export async function predictLabelMaps(
  model: Mask2Former,
  files: string[],
  outDir: string,
  input: InputConfig,
  test: SemanticTestConfig,
  onImage?: (done: number, total: number) => void,
): Promise<{ written: number; skipped: SkippedImage[] }> {
  mkdirSync(outDir, { recursive: true });
  const skipped: SkippedImage[] = [];
  let written = 0;
  for (const file of files) {
    try {
      await predictLabelMapFile(model, file, outDir, input, test);
      written++;
    } catch (err) {
      if (!(err instanceof DensekitError)) throw err;
      skipped.push({ file, reason: err.message });
    }
    onImage?.(written + skipped.length, files.length);
  }
  return { written, skipped };
}
