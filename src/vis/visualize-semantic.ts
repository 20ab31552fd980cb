import { existsSync, readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { reduceZeroLabel } from '@densekit/eval';
import { readLabelMap } from '../io/image.js';
import type { SkippedImage } from '../tasks/task.js';
import { className, type ClassNames } from '../data/class-names.js';
import { listImages } from '../tasks/inputs.js';
import { DensekitError } from '../util/errors.js';
import { drawSemanticOverlay } from './semantic-overlay.js';
import { StagedFolder } from './staged-folder.js';
import { loadImageOrSkip } from './readable-image.js';
import type { VisualizeResult } from './visualize-coco.js';

export interface SemanticVisualizeOptions {
  imagesDir: string;
  /** Predicted label PNGs (class ids), named as their images. */
  predDir: string;
  /** Annotation PNGs of the same names: drawn beside each prediction as `<name>_gt.png`. */
  gtDir?: string;
  /** The annotations hold ADE20K's raw values (0 = ignore, class k stored as k+1). */
  reduceZeroLabel: boolean;
  classNames: ClassNames;
  outDir: string;
  limit?: number;
  onImage?: (done: number, total: number) => void;
}

/** One label map to draw, with its image and (optionally) its annotation. */
interface SemanticItem {
  stem: string;
  image: string;
  pred: string;
  gt?: string;
}

const LISTED = 5;

function listed(items: string[]): string {
  const head = items.slice(0, LISTED).join(', ');
  return items.length > LISTED ? `${head} and ${items.length - LISTED} more` : head;
}

function listDir(dir: string, what: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DensekitError(code === 'ENOENT' ? `${what} not found` : `cannot list ${what} (${code})`, { file: dir });
  }
}

/**
 * Pair every label map with its image (same name stem) and annotation
 * before anything is drawn; whatever is missing is reported in one error.
 */
export function semanticItems(o: Pick<SemanticVisualizeOptions, 'imagesDir' | 'predDir' | 'gtDir' | 'limit'>): SemanticItem[] {
  const preds = listDir(o.predDir, 'folder of label maps')
    .filter((n) => n.toLowerCase().endsWith('.png'))
    .slice(0, o.limit);
  if (preds.length === 0) throw new DensekitError('no .png label maps found', { file: o.predDir });
  listDir(o.imagesDir, 'image folder');
  const images = new Map(listImages([o.imagesDir]).map((f) => [basename(f, extname(f)), f]));
  const noImage: string[] = [];
  const noGt: string[] = [];
  const items = preds.map((n) => {
    const stem = basename(n, extname(n));
    const img = images.get(stem);
    if (!img) noImage.push(n);
    const gt = o.gtDir !== undefined ? join(o.gtDir, n) : undefined;
    if (gt !== undefined && !existsSync(gt)) noGt.push(n);
    return { stem, image: img ?? '', pred: join(o.predDir, n), ...(gt !== undefined ? { gt } : {}) };
  });
  if (noImage.length > 0) throw new DensekitError(`no image for ${noImage.length} of the ${preds.length} label maps: ${listed(noImage)} (an image and its label map share a name); nothing was drawn`, { file: o.imagesDir });
  if (noGt.length > 0) throw new DensekitError(`no annotation for ${noGt.length} of the ${preds.length} label maps: ${listed(noGt)}; nothing was drawn`, { file: o.gtDir });
  return items;
}

/**
 * Overlay predicted label maps (and their annotations) on their images
 * with a legend named by `classNames`, one PNG per label map. As for
 * instances, every input is checked first and the PNGs appear together
 * at the end: a run that fails writes nothing. An image that does not
 * decode is skipped (returned in `skipped`); a label map that does not
 * read, or does not fit its image, is bad input, as in eval ade20k.
 */
export async function visualizeSemantic(o: SemanticVisualizeOptions): Promise<VisualizeResult> {
  const items = semanticItems(o);
  const name = (id: number) => className(o.classNames, id);
  const skipped: SkippedImage[] = [];
  const written = await StagedFolder.run(o.outDir, async (stage) => {
    for (const [k, it] of items.entries()) {
      const img = await loadImageOrSkip(it.image, skipped);
      o.onImage?.(k + 1, items.length);
      if (!img) continue;
      const pred = await readLabelMap(it.pred);
      if (pred.width !== img.width || pred.height !== img.height) throw new DensekitError(`label map is ${pred.width}x${pred.height}, its image ${img.width}x${img.height}`, { file: it.pred });
      if (it.gt !== undefined) {
        const gt = await readLabelMap(it.gt);
        if (gt.width !== img.width || gt.height !== img.height) throw new DensekitError(`annotation is ${gt.width}x${gt.height}, its image ${img.width}x${img.height}`, { file: it.gt });
        const labels = o.reduceZeroLabel ? gt.data.map(reduceZeroLabel) : gt.data;
        stage.write(`${it.stem}_gt.png`, drawSemanticOverlay(img, labels, { className: name }));
      }
      stage.write(`${it.stem}.png`, drawSemanticOverlay(img, pred.data, { className: name }));
    }
  });
  return { files: written, skipped, total: items.length };
}
