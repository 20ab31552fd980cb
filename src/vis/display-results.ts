import { rleToBbox, type Rle } from '@densekit/eval';
import { maskToRle, rleFromCompressed } from '../structures/masks.js';
import { DensekitError } from '../util/errors.js';

/**
 * COCO results entries as visualize draws them. A results file may carry
 * boxes, masks, or both (a segm-only file from another tool has no
 * `bbox`): every entry is checked up front, so a bad one stops the run
 * before anything is drawn, with an error naming the file, the entry and
 * the field; an entry without a box gets its mask's box when drawn.
 */

export type Box4 = [number, number, number, number];

/** A compressed or uncompressed COCO RLE, or polygons [x0, y0, x1, y1, ...] in image pixels. */
export type ResultMask = { size: [number, number]; counts: string | number[] } | number[][];

/** A checked results entry; `index` is its position in the file (for messages). */
export interface DisplayResult {
  index: number;
  image_id: number;
  category_id: number;
  score: number;
  bbox?: Box4;
  segmentation?: ResultMask;
}

/** A results entry ready to draw on an image of a known size: a box always, a mask when it has one. */
export interface DrawableResult {
  image_id: number;
  category_id: number;
  score: number;
  bbox: Box4;
  mask?: Rle;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkBox(v: unknown, at: { file: string; index: number }): Box4 {
  if (!Array.isArray(v) || v.length !== 4 || !v.every(isFiniteNumber)) throw new DensekitError('must be [x, y, width, height] (4 numbers)', { ...at, key: 'bbox' });
  if (v[2] < 0 || v[3] < 0) throw new DensekitError(`has a negative width or height (${v[2]}, ${v[3]})`, { ...at, key: 'bbox' });
  return [v[0], v[1], v[2], v[3]];
}

function checkMask(v: unknown, at: { file: string; index: number }): ResultMask {
  if (Array.isArray(v)) {
    v.forEach((poly, k) => {
      if (!Array.isArray(poly) || poly.length < 6 || poly.length % 2 !== 0 || !poly.every(isFiniteNumber)) {
        throw new DensekitError('must be a polygon [x0, y0, x1, y1, ...] of at least 3 points', { ...at, key: `segmentation[${k}]` });
      }
    });
    if (v.length === 0) throw new DensekitError('is an empty list of polygons', { ...at, key: 'segmentation' });
    return v as number[][];
  }
  if (typeof v !== 'object' || v === null) throw new DensekitError('must be an RLE {size, counts} or a list of polygons', { ...at, key: 'segmentation' });
  const { size, counts } = v as { size?: unknown; counts?: unknown };
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isSafeInteger(s) && (s as number) > 0)) {
    throw new DensekitError('must be [height, width] (2 positive integers)', { ...at, key: 'segmentation.size' });
  }
  const countsOk = typeof counts === 'string' || (Array.isArray(counts) && counts.every((c) => Number.isSafeInteger(c) && (c as number) >= 0));
  if (!countsOk) throw new DensekitError('must be a compressed RLE string or a list of non-negative integers', { ...at, key: 'segmentation.counts' });
  return { size: [size[0] as number, size[1] as number], counts: counts as string | number[] };
}

/** Check every entry of a results list (see the module's comment). */
export function readDisplayResults(results: unknown, file: string): DisplayResult[] {
  if (!Array.isArray(results)) throw new DensekitError('not a COCO results list (a JSON list of {image_id, category_id, score, bbox and/or segmentation})', { file });
  return results.map((r: unknown, index) => {
    const at = { file, index };
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new DensekitError('must be an object', at);
    const e = r as Record<string, unknown>;
    if (!Number.isSafeInteger(e.image_id)) throw new DensekitError('must be an integer', { ...at, key: 'image_id' });
    if (!Number.isSafeInteger(e.category_id)) throw new DensekitError('must be an integer', { ...at, key: 'category_id' });
    if (!isFiniteNumber(e.score)) throw new DensekitError('must be a number', { ...at, key: 'score' });
    const hasBox = e.bbox !== undefined && !(Array.isArray(e.bbox) && e.bbox.length === 0);
    if (!hasBox && e.segmentation === undefined) throw new DensekitError('has neither a bbox nor a segmentation: nothing to draw', at);
    return {
      index,
      image_id: e.image_id as number,
      category_id: e.category_id as number,
      score: e.score,
      ...(hasBox ? { bbox: checkBox(e.bbox, at) } : {}),
      ...(e.segmentation !== undefined ? { segmentation: checkMask(e.segmentation, at) } : {}),
    };
  });
}

/** The entry's mask as a full-image RLE; an RLE of another size than the image is an error naming the entry. */
function maskOnImage(m: ResultMask, h: number, w: number, at: { file: string; index: number }): Rle {
  if (Array.isArray(m)) return maskToRle({ kind: 'polygons', polygons: m }, h, w);
  const [mh, mw] = m.size;
  if (mh !== h || mw !== w) throw new DensekitError(`mask is ${mw}x${mh} (width x height) but its image is ${w}x${h}`, { ...at, key: 'segmentation.size' });
  let rle: Rle;
  try {
    rle = rleFromCompressed(m.size, m.counts);
  } catch (err) {
    throw new DensekitError(`cannot decode the RLE (${(err as Error).message})`, { ...at, key: 'segmentation.counts' });
  }
  let total = 0;
  for (const c of rle.counts) total += c;
  if (total > h * w) throw new DensekitError(`the runs cover ${total} pixels, more than the ${h * w} of the image`, { ...at, key: 'segmentation.counts' });
  return rle;
}

/** A checked entry on its image (height h, width w): its mask decoded, its box given or the mask's. */
export function drawableResult(r: DisplayResult, h: number, w: number, file: string): DrawableResult {
  const mask = r.segmentation ? maskOnImage(r.segmentation, h, w, { file, index: r.index }) : undefined;
  const bbox = r.bbox ?? (rleToBbox(mask!) as Box4);
  return { image_id: r.image_id, category_id: r.category_id, score: r.score, bbox, ...(mask ? { mask } : {}) };
}
