import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { rleDecode, rleToString } from '@densekit/eval';
import { encodeLabelPng } from '../io/image.js';
import { Rng } from '../engine/random.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SHAPE_CLASSES, synthShapesImage } from './synthetic-shapes.js';
import { encodeRgb } from '../io/rgb-image.js';

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

/**
 * Write a COCO-format shapes dataset: `train/`, `val/` PNGs and
 * `annotations/instances_{train,val}.json` (RLE masks of the visible parts,
 * category ids 1..K in SHAPE_CLASSES order of the chosen subset).
 */
export async function writeShapesDataset(o: SynthOptions): Promise<{ train: string; val: string }> {
  const names = o.classes ?? [...SHAPE_CLASSES];
  const classIdx = names.map((n) => {
    const i = (SHAPE_CLASSES as readonly string[]).indexOf(n);
    if (i < 0) throw new Error(`unknown shape class "${n}" (choose from ${SHAPE_CLASSES.join(', ')})`);
    return i;
  });
  const categories = names.map((n, i) => ({ id: i + 1, name: n, supercategory: 'shape' }));
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
  return { train: out.train!, val: out.val! };
}

/** Class names of the synthetic semantic dataset (class ids 0..4; stored as 1..5, 0 unused). */
export const SEMANTIC_SHAPE_CLASSES = ['background', ...SHAPE_CLASSES];

/**
 * Write a synthetic semantic segmentation dataset in the ADE20K layout:
 * images/{training,validation}/*.png and annotations/…/*.png whose raw
 * values are class + 1 (so reduce_zero_label applies as for ADE20K).
 */
export async function writeSemanticDataset(o: SynthOptions): Promise<{ root: string }> {
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
      const img = synthShapesImage(rng, { width: o.size, height: o.size, minObjects: o.minObjects ?? 2, maxObjects: o.maxObjects ?? 5, minSize: 0.15, maxSize: 0.45, colors: o.colors ?? 'class' });
      const labels = new Uint8Array(o.size * o.size).fill(1);
      for (const obj of img.objects) {
        const col = rleDecode(obj.rle);
        for (let x = 0; x < o.size; x++) for (let y = 0; y < o.size; y++) if (col[x * o.size + y]) labels[y * o.size + x] = obj.classIndex + 2;
      }
      const name = `synth_${String(i + 1).padStart(6, '0')}`;
      writeFileSync(join(imgDir, `${name}.png`), await encodeRgb({ data: img.rgb, width: img.width, height: img.height }, 'png'));
      writeFileSync(join(annDir, `${name}.png`), await encodeLabelPng(labels, o.size, o.size));
    }
  }
  writeFileAtomic(join(o.out, 'classes.json'), JSON.stringify(SEMANTIC_SHAPE_CLASSES));
  return { root: o.out };
}
