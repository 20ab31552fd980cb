import { Rng } from '../../src/engine/random.js';
import { rleFrPoly, rleToString } from '../../eval/src/coco/rle.js';
import type { CocoDataset, CocoResult } from '../../eval/src/coco/types.js';

/**
 * A deterministic COCO-like set for benchmarking evaluation: images with
 * ~7 GT objects (polygons, some crowd) and a fixed number of detections per
 * image, most near a GT object of the right class, the rest clutter.
 */
export interface SynthOptions {
  images: number;
  categories: number;
  gtPerImage: number;
  detsPerImage: number;
  segm: boolean;
  seed?: number;
}

function polygonAround(rng: Rng, cx: number, cy: number, rx: number, ry: number, n = 12): number[] {
  const p: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = (2 * Math.PI * i) / n;
    const r = 0.75 + 0.25 * rng.uniform();
    p.push(cx + Math.cos(a) * rx * r, cy + Math.sin(a) * ry * r);
  }
  return p;
}

function polyArea(p: number[]): number {
  let s = 0;
  for (let i = 0; i < p.length; i += 2) {
    const j = (i + 2) % p.length;
    s += p[i]! * p[j + 1]! - p[j]! * p[i + 1]!;
  }
  return Math.abs(s) / 2;
}

function bboxOf(p: number[]): number[] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < p.length; i += 2) {
    x0 = Math.min(x0, p[i]!); x1 = Math.max(x1, p[i]!);
    y0 = Math.min(y0, p[i + 1]!); y1 = Math.max(y1, p[i + 1]!);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

const round2 = (v: number) => Math.round(v * 100) / 100;

export function synthCoco(o: SynthOptions): { gt: CocoDataset; dets: CocoResult[] } {
  const rng = new Rng(o.seed ?? 1);
  const gt: CocoDataset = { images: [], annotations: [], categories: [] };
  for (let c = 1; c <= o.categories; c++) gt.categories.push({ id: c, name: `c${c}` });
  const dets: CocoResult[] = [];
  let annId = 1;
  for (let i = 0; i < o.images; i++) {
    const id = i + 1;
    const width = 320 + 32 * rng.int(11);
    const height = 240 + 32 * rng.int(11);
    gt.images.push({ id, width, height, file_name: `${id}.jpg` });
    const objects: { cat: number; poly: number[] }[] = [];
    const nGt = Math.max(1, o.gtPerImage - 3 + rng.int(7));
    for (let g = 0; g < nGt; g++) {
      const rx = 4 + rng.uniform() * width * 0.25;
      const ry = 4 + rng.uniform() * height * 0.25;
      const cx = rx + rng.uniform() * (width - 2 * rx);
      const cy = ry + rng.uniform() * (height - 2 * ry);
      const poly = polygonAround(rng, cx, cy, rx, ry).map(round2);
      const cat = 1 + rng.int(o.categories);
      objects.push({ cat, poly });
      gt.annotations.push({ id: annId++, image_id: id, category_id: cat, iscrowd: rng.uniform() < 0.03 ? 1 : 0, bbox: bboxOf(poly).map(round2), area: polyArea(poly), segmentation: [poly] });
    }
    for (let d = 0; d < o.detsPerImage; d++) {
      let poly: number[];
      let cat: number;
      if (d < nGt * 3) {
        const obj = objects[d % nGt]!;
        const jitter = 0.15 * (d / nGt);
        poly = obj.poly.map((v, k) => v + (rng.uniform() - 0.5) * jitter * (k % 2 ? height : width) * 0.2);
        cat = rng.uniform() < 0.85 ? obj.cat : 1 + rng.int(o.categories);
      } else {
        const rx = 4 + rng.uniform() * width * 0.2;
        const ry = 4 + rng.uniform() * height * 0.2;
        poly = polygonAround(rng, rx + rng.uniform() * (width - 2 * rx), ry + rng.uniform() * (height - 2 * ry), rx, ry);
        cat = 1 + rng.int(o.categories);
      }
      const score = Math.round(rng.uniform() * 1000) / 1000;
      if (o.segm) {
        const rle = rleFrPoly(poly, height, width);
        dets.push({ image_id: id, category_id: cat, score, segmentation: { size: [height, width], counts: rleToString(rle) } });
      } else {
        dets.push({ image_id: id, category_id: cat, score, bbox: bboxOf(poly).map(round2) });
      }
    }
  }
  return { gt, dets };
}
