import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { rleToString } from '@densekit/eval';
import { Rng } from '../engine/random.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { SHAPE_CLASSES, synthShapesImage } from './synthetic-shapes.js';
import { encodeRgb } from './image-io.js';

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
      const img = synthShapesImage(rng, { width: o.size, height: o.size, minObjects: o.minObjects ?? 2, maxObjects: o.maxObjects ?? 5, minSize: 0.15, maxSize: 0.45, classes: classIdx });
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
