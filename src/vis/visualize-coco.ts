import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { Coco, type CocoAnnotation } from '@densekit/eval';
import { loadRgb } from '../io/rgb-image.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { maskToRle, rleFromCompressed } from '../structures/masks.js';
import type { CocoDetection } from '../detection/postprocess.js';
import { drawInstances, type DrawItem } from './draw-instances.js';
import { indexColor, type Rgb } from './palette.js';
import { matchForDisplay } from './match.js';

export interface VisualizeOptions {
  imagesDir: string;
  results: CocoDetection[];
  /** Ground truth: gives image file names, category names, and FP/miss marks. */
  gt?: Coco;
  outDir: string;
  scoreThreshold: number;
  limit?: number;
  /** Colour by category (stable across images) or by instance. */
  colorBy?: 'category' | 'instance';
}

const FP_COLOR: Rgb = [230, 30, 30];
const MISS_COLOR: Rgb = [255, 200, 0];

function catName(gt: Coco | undefined, id: number): string {
  return gt?.cats.get(id)?.name ?? `class ${id}`;
}

function detItems(dets: CocoDetection[], gt: Coco | undefined, colorBy: 'category' | 'instance', fp?: boolean[]): DrawItem[] {
  return dets.map((d, i) => ({
    bbox: d.bbox,
    label: `${fp?.[i] ? 'FP ' : ''}${catName(gt, d.category_id)} ${(d.score * 100).toFixed(0)}%`,
    color: fp?.[i] ? FP_COLOR : indexColor(colorBy === 'category' ? d.category_id : i),
    mask: d.segmentation ? rleFromCompressed(d.segmentation.size, d.segmentation.counts) : undefined,
  }));
}

function gtItems(anns: CocoAnnotation[], gt: Coco, h: number, w: number, missed: boolean[]): DrawItem[] {
  return anns.map((a, i) => ({
    bbox: a.bbox as [number, number, number, number],
    label: `${missed[i] ? 'MISS ' : ''}${catName(gt, a.category_id)}`,
    color: missed[i] ? MISS_COLOR : indexColor(a.category_id),
    dashed: missed[i],
    mask: a.segmentation ? (Array.isArray(a.segmentation) ? maskToRle({ kind: 'polygons', polygons: a.segmentation }, h, w) : rleFromCompressed(a.segmentation.size, a.segmentation.counts)) : undefined,
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
 * and misses (yellow, dashed) marked by IoU ≥ 0.5 matching. Returns the
 * written files.
 */
export async function visualizeCoco(o: VisualizeOptions): Promise<string[]> {
  mkdirSync(o.outDir, { recursive: true });
  const byImage = new Map<number, CocoDetection[]>();
  for (const r of o.results) {
    if (r.score < o.scoreThreshold) continue;
    let l = byImage.get(r.image_id);
    if (!l) byImage.set(r.image_id, (l = []));
    l.push(r);
  }
  const ids = o.gt ? [...o.gt.imgs.keys()].sort((a, b) => a - b) : [...byImage.keys()].sort((a, b) => a - b);
  const written: string[] = [];
  for (const id of ids.slice(0, o.limit ?? ids.length)) {
    const info = o.gt?.imgs.get(id);
    const file = info?.file_name ?? `${id}.png`;
    const img = await loadRgb(join(o.imagesDir, file));
    const dets = (byImage.get(id) ?? []).sort((a, b) => b.score - a.score);
    const colorBy = o.colorBy ?? 'category';
    let png: Buffer;
    if (o.gt) {
      const anns = (o.gt.imgToAnns.get(id) ?? []).filter((a) => !a.iscrowd);
      const { dtMatched, gtMatched } = matchForDisplay(dets, anns.map((a) => ({ bbox: a.bbox as [number, number, number, number], category_id: a.category_id })));
      const left = drawInstances(img, gtItems(anns, o.gt, img.height, img.width, gtMatched.map((m) => !m)));
      const right = drawInstances(img, detItems(dets, o.gt, colorBy, dtMatched.map((m) => !m)));
      const fp = dtMatched.filter((m) => !m).length;
      const miss = gtMatched.filter((m) => !m).length;
      png = await sideBySide(left, right, [`ground truth: ${anns.length} (${miss} missed)`, `predicted: ${dets.length} (${fp} false pos.)`]);
    } else {
      png = drawInstances(img, detItems(dets, undefined, colorBy));
    }
    const out = join(o.outDir, `${basename(file).replace(/\.[^.]+$/, '')}.png`);
    writeFileAtomic(out, png);
    written.push(out);
  }
  return written;
}
