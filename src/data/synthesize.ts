import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rleDecode, rleToString } from '@densekit/eval';
import { encodeLabelPng } from '../io/image.js';
import { Rng } from '../engine/random.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SHAPE_CLASSES, synthShapesImage } from './synthetic-shapes.js';
import { encodeRgb } from '../io/rgb-image.js';
import { DensekitError } from '../util/errors.js';
import { CLASSES_FILE } from './class-names.js';

export interface SynthOptions {
  out: string;
  trainImages: number;
  valImages: number;
  size: number;
  seed: number;
  /** Subset of SHAPE_CLASSES to draw (all by default). */
  classes?: string[];
  minObjects?: number;
  maxObjects?: number;
  /** Object colours: by class (default; a jittered hue per class) or random. */
  colors?: 'class' | 'random';
}

/** Indices into SHAPE_CLASSES of the chosen classes (all by default); an unknown or repeated name is refused. */
export function shapeClassIndices(classes: readonly string[] | undefined): number[] {
  const names = classes ?? [...SHAPE_CLASSES];
  if (names.length === 0) throw new DensekitError(`--classes names no class (choose from ${SHAPE_CLASSES.join(', ')})`);
  return names.map((n, k) => {
    const i = (SHAPE_CLASSES as readonly string[]).indexOf(n);
    if (i < 0) throw new DensekitError(`--classes: unknown shape class "${n}" (choose from ${SHAPE_CLASSES.join(', ')})`);
    if (names.indexOf(n) !== k) throw new DensekitError(`--classes: "${n}" is listed twice`);
    return i;
  });
}

/**
 * Write a COCO-format shapes dataset: `train/`, `val/` PNGs,
 * `annotations/instances_{train,val}.json` (RLE masks of the visible parts,
 * category ids 1..K in the order of the chosen classes) and, at the root,
 * `classes.json` with the same categories (so commands given only the
 * images, such as visualize without a GT file, find the names).
 */
export async function writeShapesDataset(o: SynthOptions): Promise<{ train: string; val: string; classes: string }> {
  const classIdx = shapeClassIndices(o.classes);
  const categories = classIdx.map((c, i) => ({ id: i + 1, name: SHAPE_CLASSES[c]!, supercategory: 'shape' }));
  const out: Record<string, string> = {};
  for (const [split, count, seedOffset] of [
    ['train', o.trainImages, 0],
    ['val', o.valImages, 1_000_003],
  ] as const) {
    const dir = join(o.out, split);
    mkdirSync(dir, { recursive: true });
    const rng = new Rng(o.seed + seedOffset);
    const images: object[] = [];
    const annotations: object[] = [];
    let annId = 1;
    for (let i = 0; i < count; i++) {
      const img = synthShapesImage(rng, { width: o.size, height: o.size, minObjects: o.minObjects ?? 2, maxObjects: o.maxObjects ?? 5, minSize: 0.15, maxSize: 0.45, classes: classIdx, colors: o.colors ?? 'class' });
      const file = `${String(i + 1).padStart(6, '0')}.png`;
      writeFileSync(join(dir, file), await encodeRgb({ data: img.rgb, width: img.width, height: img.height }, 'png'));
      images.push({ id: i + 1, file_name: file, width: img.width, height: img.height });
      for (const obj of img.objects) {
        annotations.push({
          id: annId++,
          image_id: i + 1,
          category_id: classIdx.indexOf(obj.classIndex) + 1,
          bbox: obj.bbox,
          area: obj.area,
          iscrowd: 0,
          segmentation: { size: [obj.rle.h, obj.rle.w], counts: rleToString(obj.rle) },
        });
      }
    }
    const ann = join(o.out, 'annotations', `instances_${split}.json`);
    writeFileAtomic(ann, JSON.stringify({ info: { description: 'densekit synthetic shapes' }, images, annotations, categories }));
    out[split] = ann;
  }
  const classes = join(o.out, CLASSES_FILE);
  writeFileAtomic(classes, `${JSON.stringify({ categories }, null, 1)}\n`);
  return { train: out.train!, val: out.val!, classes };
}

/**
 * Write a synthetic semantic segmentation dataset in the ADE20K layout:
 * images/{training,validation}/*.png and annotations/…/*.png whose raw
 * values are class + 1 (so reduce_zero_label applies as for ADE20K), and
 * `classes.json` at the root: the names by class id, background first,
 * then the chosen shapes in their order.
 */
export async function writeSemanticDataset(o: SynthOptions): Promise<{ root: string; classes: string }> {
  const classIdx = shapeClassIndices(o.classes);
  for (const [split, count, seedOffset] of [
    ['training', o.trainImages, 0],
    ['validation', o.valImages, 1_000_003],
  ] as const) {
    const imgDir = join(o.out, 'images', split);
    const annDir = join(o.out, 'annotations', split);
    mkdirSync(imgDir, { recursive: true });
    mkdirSync(annDir, { recursive: true });
    const rng = new Rng(o.seed + seedOffset);
    for (let i = 0; i < count; i++) {
      const img = synthShapesImage(rng, { width: o.size, height: o.size, minObjects: o.minObjects ?? 2, maxObjects: o.maxObjects ?? 5, minSize: 0.15, maxSize: 0.45, classes: classIdx, colors: o.colors ?? 'class' });
      const labels = new Uint8Array(o.size * o.size).fill(1);
      for (const obj of img.objects) {
        // Raw value = class id + 1, where background is class 0 and the chosen shapes follow.
        const raw = classIdx.indexOf(obj.classIndex) + 2;
        const col = rleDecode(obj.rle);
        for (let x = 0; x < o.size; x++) for (let y = 0; y < o.size; y++) if (col[x * o.size + y]) labels[y * o.size + x] = raw;
      }
      const name = `synth_${String(i + 1).padStart(6, '0')}`;
      writeFileSync(join(imgDir, `${name}.png`), await encodeRgb({ data: img.rgb, width: img.width, height: img.height }, 'png'));
      writeFileSync(join(annDir, `${name}.png`), await encodeLabelPng(labels, o.size, o.size));
    }
  }
  const classes = join(o.out, CLASSES_FILE);
  writeFileAtomic(classes, `${JSON.stringify(['background', ...classIdx.map((c) => SHAPE_CLASSES[c]!)])}\n`);
  return { root: o.out, classes };
}
