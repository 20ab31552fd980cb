import { MaskApiError } from '../errors.js';
import {
  rleArea,
  rleDecode,
  rleEncode,
  rleFrBbox,
  rleFrPoly,
  rleFrString,
  rleIou,
  rleMerge,
  rleToBbox,
  rleToString,
  bbIou,
  type Bbox,
  type Rle,
} from './rle.js';

/**
 * The pycocotools.mask API over JSON-style objects: compressed RLEs
 * `{size: [h, w], counts: string}`, uncompressed `{size, counts: number[]}`,
 * polygons and boxes. Masks are column-major Uint8Arrays (index x*h + y).
 */

export interface CompressedRle {
  size: [number, number];
  counts: string;
}

export interface UncompressedRle {
  size: [number, number];
  counts: number[];
}

export type RleObject = CompressedRle | UncompressedRle;

/** A JSON RLE object → internal RLE (compressed strings are parsed, lists copied). */
export function toRle(obj: RleObject): Rle {
  const [h, w] = obj.size;
  if (typeof obj.counts === 'string') return rleFrString(obj.counts, h, w);
  return { h, w, counts: Uint32Array.from(obj.counts) };
}

export function toCompressed(r: Rle): CompressedRle {
  return { size: [r.h, r.w], counts: rleToString(r) };
}

/** Encode a column-major mask. */
export function encode(mask: ArrayLike<number>, h: number, w: number): CompressedRle {
  return toCompressed(rleEncode(mask, h, w));
}

/** Decode to a column-major mask of h*w bytes. */
export function decode(rle: RleObject): Uint8Array {
  return rleDecode(toRle(rle));
}

export function area(rle: RleObject): number {
  return rleArea(toRle(rle));
}

export function toBbox(rle: RleObject): Bbox {
  return rleToBbox(toRle(rle));
}

export function merge(rles: RleObject[], intersect = false): CompressedRle {
  return toCompressed(rleMerge(rles.map(toRle), intersect));
}

/** RLE of each box [x, y, w, h] (pycocotools' frBbox on an N x 4 array). */
export function frBbox(boxes: ArrayLike<number>[], h: number, w: number): CompressedRle[] {
  return boxes.map((b) => toCompressed(rleFrBbox(b, h, w)));
}

/** RLE of each polygon [x0, y0, x1, y1, ...]. */
export function frPoly(polys: ArrayLike<number>[], h: number, w: number): CompressedRle[] {
  return polys.map((p) => toCompressed(rleFrPoly(p, h, w)));
}

function pyLen(v: unknown): number {
  if (Array.isArray(v)) return v.length;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length;
  throw new MaskApiError(`object of type '${typeof v === 'number' ? 'float' : typeof v}' has no len()`, 'TypeError');
}

function isRleDict(v: unknown): v is RleObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'counts' in v && 'size' in v;
}

/**
 * pycocotools' `frPyObjects`, with its dispatch: a list whose first element
 * has 4 numbers is boxes (which pycocotools only accepts as a numpy array: a
 * plain list raises TypeError — call `frBbox` for boxes); more than 4 numbers
 * is polygons; dicts are uncompressed RLEs. A flat list raises TypeError.
 */
export function frPyObjects(obj: unknown, h: number, w: number): CompressedRle | CompressedRle[] {
  if (Array.isArray(obj)) {
    if (obj.length === 0) throw new MaskApiError('list index out of range', 'Exception');
    const first = obj[0];
    if (isRleDict(first) && pyLen(first) !== 4 && pyLen(first) <= 4) {
      return obj.map((o) => toCompressed(toRle(o as RleObject)));
    }
    const n = pyLen(first);
    if (n === 4) {
      throw new MaskApiError(
        "Argument 'bb' has incorrect type (expected numpy.ndarray, got list): a list whose first element has 4 numbers is read as boxes; use frBbox for boxes (polygons need at least 6 numbers)",
        'TypeError',
      );
    }
    if (n > 4) return frPoly(obj as number[][], h, w);
    throw new MaskApiError('input type is not supported.', 'Exception');
  }
  if (isRleDict(obj)) return toCompressed(toRle(obj));
  throw new MaskApiError('input type is not supported.', 'Exception');
}

/**
 * pycocotools' `iou(dt, gt, iscrowd)`: both sides boxes ([x,y,w,h] lists) or
 * both RLEs. Returns rows = detections, columns = ground truths.
 */
export function iou(dt: (ArrayLike<number> | RleObject)[], gt: (ArrayLike<number> | RleObject)[], iscrowd: ArrayLike<number>): number[][] {
  if (iscrowd.length !== gt.length) throw new MaskApiError('iou(iscrowd=) must have the same length as gt', 'Exception');
  if (dt.length === 0 || gt.length === 0) return [];
  const dtRle = dt.every(isRleDict);
  const gtRle = gt.every(isRleDict);
  const dtBox = dt.every((d) => !isRleDict(d) && (d as ArrayLike<number>).length === 4);
  const gtBox = gt.every((g) => !isRleDict(g) && (g as ArrayLike<number>).length === 4);
  if (!(dtRle || dtBox) || !(gtRle || gtBox)) throw new MaskApiError('list input can be bounding box (Nx4) or RLEs ([RLE])', 'Exception');
  if (dtRle !== gtRle) throw new MaskApiError('The dt and gt should have the same data type, either RLEs, list or np.ndarray', 'Exception');
  const m = dt.length;
  const n = gt.length;
  let flat: Float64Array;
  if (dtRle) {
    flat = rleIou((dt as RleObject[]).map(toRle), (gt as RleObject[]).map(toRle), iscrowd);
  } else {
    const db = new Float64Array(m * 4);
    const gb = new Float64Array(n * 4);
    (dt as ArrayLike<number>[]).forEach((b, i) => db.set(Array.from(b), i * 4));
    (gt as ArrayLike<number>[]).forEach((b, i) => gb.set(Array.from(b), i * 4));
    flat = bbIou(db, gb, m, n, iscrowd);
  }
  const out: number[][] = [];
  for (let d = 0; d < m; d++) out.push(Array.from(flat.subarray(d * n, (d + 1) * n)));
  return out;
}

export type { Rle, Bbox };
