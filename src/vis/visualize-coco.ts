import { createCanvas, loadImage } from '@napi-rs/canvas';
import type { Coco, CocoAnnotation, Rle } from '@densekit/eval';
import type { SkippedImage } from '../tasks/task.js';
import { maskToRle, rleFromCompressed } from '../structures/masks.js';
import { className, resolveClassNames, type ClassNames } from '../data/class-names.js';
import { drawInstances, type DrawItem } from './draw-instances.js';
import { indexColor, type Rgb } from './palette.js';
import { matchForDisplay } from './match.js';
import { drawableResult, readDisplayResults, type DisplayResult, type DrawableResult } from './display-results.js';
import { imageFilesFromFolder, imageFilesFromGt, outputNames } from './image-files.js';
import { StagedFolder } from './staged-folder.js';
import { loadImageOrSkip } from './readable-image.js';
import { DensekitError } from '../util/errors.js';

export interface VisualizeOptions {
  imagesDir: string;
  /** A COCO results list as read from its file (each entry is checked before anything is drawn). */
  results: unknown;
  /** The results' file, for messages. */
  resultsFile?: string;
  /** Ground truth: gives image file names, category names, and FP/miss marks. */
  gt?: Coco;
  /** Class names; by default the GT's categories, else the data's classes.json (data/class-names.ts). */
  classNames?: ClassNames;
  outDir: string;
  scoreThreshold: number;
  limit?: number;
  /** Colour by category (stable across images) or by instance. */
  colorBy?: 'category' | 'instance';
  /** Told after each image is drawn. */
  onImage?: (done: number, total: number) => void;
}

/** What a visualization wrote: the PNGs, the images skipped (files that do not decode), and how many images it was to draw. */
export interface VisualizeResult {
  files: string[];
  skipped: SkippedImage[];
  total: number;
}

const FP_COLOR: Rgb = [230, 30, 30];
const MISS_COLOR: Rgb = [255, 200, 0];

function detItems(dets: DrawableResult[], names: ClassNames, colorBy: 'category' | 'instance', fp?: boolean[]): DrawItem[] {
  return dets.map((d, i) => ({
    bbox: d.bbox,
    label: `${fp?.[i] ? 'FP ' : ''}${className(names, d.category_id)} ${(d.score * 100).toFixed(0)}%`,
    color: fp?.[i] ? FP_COLOR : indexColor(colorBy === 'category' ? d.category_id : i),
    mask: d.mask,
  }));
}

/** A GT annotation's mask on its image; an RLE of another size than the image file is an error naming the annotation. */
function gtMask(a: CocoAnnotation, gt: Coco, h: number, w: number): Rle | undefined {
  const seg = a.segmentation;
  if (!seg) return undefined;
  if (Array.isArray(seg)) return maskToRle({ kind: 'polygons', polygons: seg }, h, w);
  if (seg.size[0] !== h || seg.size[1] !== w) {
    throw new DensekitError(`annotation ${a.id}: mask is ${seg.size[1]}x${seg.size[0]} (width x height) but image ${a.image_id}'s file is ${w}x${h}`, { file: gt.source });
  }
  return rleFromCompressed(seg.size, seg.counts);
}

function gtItems(anns: CocoAnnotation[], gt: Coco, names: ClassNames, h: number, w: number, missed: boolean[]): DrawItem[] {
  return anns.map((a, i) => ({
    bbox: a.bbox as [number, number, number, number],
    label: `${missed[i] ? 'MISS ' : ''}${className(names, a.category_id)}`,
    color: missed[i] ? MISS_COLOR : indexColor(a.category_id),
    dashed: missed[i],
    mask: gtMask(a, gt, h, w),
  }));
}

/** Put two PNGs side by side with captions. */
async function sideBySide(left: Buffer, right: Buffer, captions: [string, string]): Promise<Buffer> {
  const [a, b] = await Promise.all([loadImage(left), loadImage(right)]);
  const bar = Math.max(18, Math.round(a.height / 18));
  const canvas = createCanvas(a.width + b.width + 8, Math.max(a.height, b.height) + bar);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(a, 0, bar);
  ctx.drawImage(b, a.width + 8, bar);
  ctx.fillStyle = '#222';
  ctx.textBaseline = 'top';
  // Each caption shrinks to fit over its own image (small images get small text, never overlap).
  const caption = (text: string, x: number, width: number) => {
    let size = Math.round(bar * 0.7);
    ctx.font = `${size}px sans-serif`;
    const measured = ctx.measureText(text).width;
    if (measured > width - 8) size = Math.max(6, Math.floor((size * (width - 8)) / measured));
    ctx.font = `${size}px sans-serif`;
    ctx.fillText(text, x + 4, 2, width - 8);
  };
  caption(captions[0], 0, a.width);
  caption(captions[1], a.width + 8, b.width);
  return canvas.toBuffer('image/png');
}

/**
 * Draw results over their images, one PNG per image in `outDir`. With a GT
 * file: ground truth and predictions side by side, false positives (red)
 * and misses (yellow, dashed) marked by IoU ≥ 0.5 matching. Everything is
 * checked first (each results entry, against the GT when there is one, and
 * a file for every image to draw), and the PNGs appear together at the
 * end: a run that fails writes nothing. An image whose file does not
 * decode is skipped and named in `skipped`, the others drawn.
 */
export async function visualizeCoco(o: VisualizeOptions): Promise<VisualizeResult> {
  const resultsFile = o.resultsFile ?? '<results>';
  const checked = readDisplayResults(o.results, resultsFile);
  // Against a GT too: an image id it lacks is an error naming the entry.
  if (o.gt && checked.length > 0) o.gt.loadRes(o.results, resultsFile);
  const byImage = new Map<number, DisplayResult[]>();
  for (const r of checked) {
    if (r.score < o.scoreThreshold) continue;
    let l = byImage.get(r.image_id);
    if (!l) byImage.set(r.image_id, (l = []));
    l.push(r);
  }
  const gt = o.gt;
  const all = gt ? [...gt.imgs.keys()] : [...byImage.keys()];
  const ids = all.sort((a, b) => a - b).slice(0, o.limit ?? all.length);
  const files = gt ? imageFilesFromGt(ids, gt, o.imagesDir) : imageFilesFromFolder(ids, o.imagesDir, resultsFile);
  const names = o.classNames ?? resolveClassNames({ categories: gt?.dataset.categories, categoriesSource: gt?.source, dataDirs: [o.imagesDir] });
  const pngNames = outputNames(ids.map((id) => files.get(id)!));
  const colorBy = o.colorBy ?? 'category';
  const skipped: SkippedImage[] = [];
  const written = await StagedFolder.run(o.outDir, async (stage) => {
    for (const [k, id] of ids.entries()) {
      const img = await loadImageOrSkip(files.get(id)!, skipped);
      o.onImage?.(k + 1, ids.length);
      if (!img) continue;
      const dets = (byImage.get(id) ?? []).map((r) => drawableResult(r, img.height, img.width, resultsFile)).sort((a, b) => b.score - a.score);
      let png: Buffer;
      if (gt) {
        const anns = (gt.imgToAnns.get(id) ?? []).filter((a) => !a.iscrowd);
        const { dtMatched, gtMatched } = matchForDisplay(dets, anns.map((a) => ({ bbox: a.bbox as [number, number, number, number], category_id: a.category_id })));
        const left = drawInstances(img, gtItems(anns, gt, names, img.height, img.width, gtMatched.map((m) => !m)));
        const right = drawInstances(img, detItems(dets, names, colorBy, dtMatched.map((m) => !m)));
        const fp = dtMatched.filter((m) => !m).length;
        const miss = gtMatched.filter((m) => !m).length;
        png = await sideBySide(left, right, [`ground truth: ${anns.length} (${miss} missed)`, `predicted: ${dets.length} (${fp} false pos.)`]);
      } else {
        png = drawInstances(img, detItems(dets, names, colorBy));
      }
      stage.write(pngNames[k]!, png);
    }
  });
  return { files: written, skipped, total: ids.length };
}
