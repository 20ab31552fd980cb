// The RLE operations of pycocotools' maskApi.c, to the bit (the format is in rle-types.ts).
import { MaskApiError } from '../errors.js';
import { Summary, summarizeCountsBytes } from './rle-bytes.js';
import { rasterScratch, rasterizePolygon } from './polygon-raster.js';
import type { Bbox, Rle } from './rle-types.js';

export type { Bbox, Rle } from './rle-types.js';

/** What loading a result needs from a compressed RLE, without materialising its counts. */
export interface RleStringSummary {
  /** Sum of all runs (must equal h * w for a well-formed mask). */
  total: number;
  /** Foreground pixel count, as rleArea. */
  area: number;
  /** Tight foreground box, as rleToBbox. */
  bbox: Bbox;
}

/** Encode a column-major mask of h*w bytes (nonzero = foreground). */
export function rleEncode(mask: ArrayLike<number>, h: number, w: number): Rle {
  const a = h * w;
  if (mask.length < a) throw new MaskApiError(`mask has ${mask.length} pixels, expected ${h}x${w}`, 'ValueError');
  const cnts = new Uint32Array(a + 1);
  let k = 0;
  let p = 0;
  let c = 0;
  for (let j = 0; j < a; j++) {
    const v = mask[j] ? 1 : 0;
    if (v !== p) {
      cnts[k++] = c;
      c = 0;
      p = v;
    }
    c++;
  }
  cnts[k++] = c;
  return { h, w, counts: cnts.slice(0, k) };
}

/** Decode to a column-major mask; counts summing past h*w are an error (pycocotools 2.0.11). */
export function rleDecode(r: Rle): Uint8Array {
  const size = r.h * r.w;
  const out = new Uint8Array(size);
  let pos = 0;
  let v = 0;
  for (let j = 0; j < r.counts.length; j++) {
    const n = r.counts[j]!;
    if (pos + n > size) throw new MaskApiError('Invalid RLE mask representation', 'ValueError');
    if (v) out.fill(1, pos, pos + n);
    pos += n;
    v ^= 1;
  }
  return out;
}

/** Foreground pixel count: the sum of the odd-indexed runs. */
export function rleArea(r: Rle): number {
  let a = 0;
  const c = r.counts;
  for (let j = 1; j < c.length; j += 2) a += c[j]!;
  return a;
}

/**
 * The tight box of foreground runs fed to it one by one (pixel index of the
 * run's first pixel and one past its last, column-major): a run crossing a
 * column boundary spans the full height (pycocotools' rleToBbox after its
 * 2021 fix). Empty runs must not be fed.
 */
class RunBox {
  xs: number;
  ys: number;
  xe = 0;
  ye = 0;
  constructor(
    readonly h: number,
    w: number,
  ) {
    this.xs = w;
    this.ys = h;
  }

  add(start: number, end: number): void {
    const h = this.h;
    // Floor division, not %: a float modulo is a runtime call.
    const xStart = Math.floor(start / h);
    const xEnd = Math.floor((end - 1) / h);
    if (xStart < this.xs) this.xs = xStart;
    if (xEnd > this.xe) this.xe = xEnd;
    if (xStart < xEnd) {
      this.ys = 0;
      this.ye = h - 1;
    } else {
      const yStart = start - xStart * h;
      const yEnd = end - 1 - xEnd * h;
      if (yStart < this.ys) this.ys = yStart;
      if (yEnd > this.ye) this.ye = yEnd;
    }
  }

  /** [x, y, w, h]; unsigned arithmetic as in C: xe - xs + 1 wraps when nothing was added. */
  box(): Bbox {
    return [this.xs, this.ys, (this.xe - this.xs + 1) >>> 0, (this.ye - this.ys + 1) >>> 0];
  }
}

/**
 * Tight box of the foreground. Uses an even number of runs; skips empty
 * foreground runs (pycocotools' rleToBbox).
 */
export function rleToBbox(r: Rle): Bbox {
  const m = r.counts.length - (r.counts.length % 2);
  if (m === 0) return [0, 0, 0, 0];
  const box = new RunBox(r.h, r.w);
  let cc = 0;
  for (let j = 0; j < m; j++) {
    const start = cc;
    cc += r.counts[j]!;
    if (j % 2 === 1 && r.counts[j] !== 0) box.add(start, cc);
  }
  return box.box();
}

/** Union (or intersection) of RLEs of the same size; a size mismatch gives an empty 0x0 RLE. */
export function rleMerge(rs: readonly Rle[], intersect: boolean): Rle {
  const n = rs.length;
  if (n === 0) return { h: 0, w: 0, counts: new Uint32Array(0) };
  let h = rs[0]!.h;
  let w = rs[0]!.w;
  if (n === 1) return { h, w, counts: rs[0]!.counts.slice() };
  let cur = rs[0]!.counts;
  let out: Uint32Array = cur;
  for (let i = 1; i < n; i++) {
    const B = rs[i]!;
    if (B.h !== h || B.w !== w) {
      h = w = 0;
      out = new Uint32Array(0);
      break;
    }
    const A = cur;
    const buf = new Uint32Array(A.length + B.counts.length + 1);
    let m = 0;
    let ca = A.length > 0 ? A[0]! : 0;
    let cb = B.counts.length > 0 ? B.counts[0]! : 0;
    let v = 0;
    let va = 0;
    let vb = 0;
    let a = 1;
    let b = 1;
    let cc = 0;
    let ct = 1;
    while (ct > 0) {
      const c = Math.min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.length) {
        ca = A[a++]!;
        va ^= 1;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.counts.length) {
        cb = B.counts[b++]!;
        vb ^= 1;
      }
      ct += cb;
      const vp = v;
      v = intersect ? va & vb : va | vb;
      if (v !== vp || ct === 0) {
        buf[m++] = cc;
        cc = 0;
      }
    }
    out = buf.slice(0, m);
    cur = out;
  }
  return { h, w, counts: out };
}

/**
 * IoU of boxes [x,y,w,h], no +1. Returns an m x n matrix (row d, column g)
 * in a flat array. For crowd GT the union is the detection's area.
 */
export function bbIou(dt: ArrayLike<number>, gt: ArrayLike<number>, m: number, n: number, iscrowd: ArrayLike<number> | null, out: Float64Array = new Float64Array(m * n)): Float64Array {
  for (let g = 0; g < n; g++) {
    const G0 = gt[g * 4]!;
    const G1 = gt[g * 4 + 1]!;
    const G2 = gt[g * 4 + 2]!;
    const G3 = gt[g * 4 + 3]!;
    const ga = G2 * G3;
    const crowd = iscrowd !== null && iscrowd[g] ? true : false;
    for (let d = 0; d < m; d++) {
      const D0 = dt[d * 4]!;
      const D1 = dt[d * 4 + 1]!;
      const D2 = dt[d * 4 + 2]!;
      const D3 = dt[d * 4 + 3]!;
      const da = D2 * D3;
      out[d * n + g] = 0;
      const w = Math.min(D2 + D0, G2 + G0) - Math.max(D0, G0);
      if (w <= 0) continue;
      const h = Math.min(D3 + D1, G3 + G1) - Math.max(D1, G1);
      if (h <= 0) continue;
      const i = w * h;
      const u = crowd ? da : da + ga - i;
      out[d * n + g] = i / u;
    }
  }
  return out;
}

/**
 * IoU of RLEs (m dets x n gts, row d, column g). As pycocotools: the RLE IoU
 * is only computed where the masks' boxes overlap; masks of different sizes
 * then give -1; crowd GT use the detection's area as the union.
 */
export function rleIou(dt: readonly Rle[], gt: readonly Rle[], iscrowd: ArrayLike<number> | null, dtBoxes?: Float64Array, gtBoxes?: Float64Array): Float64Array {
  const m = dt.length;
  const n = gt.length;
  const o = bbIou(dtBoxes ?? boxesOf(dt), gtBoxes ?? boxesOf(gt), m, n, iscrowd);
  refineRleIou(o, m, n, (d) => dt[d]!, (g) => gt[g]!, iscrowd);
  return o;
}

/** Reused by refineRleIou, which runs once per (image, category) cell. */
const refineScratch: (Rle | undefined)[] = [];
let refineAreas = new Float64Array(256);

/**
 * Turn a box-IoU matrix of masks' tight boxes into the mask IoU matrix, in
 * place: only pairs whose boxes overlap are compared run by run, and only
 * their masks are requested — so a caller can decode masks lazily.
 */
export function refineRleIou(o: Float64Array, m: number, n: number, dtAt: (d: number) => Rle, gtAt: (g: number) => Rle, iscrowd: ArrayLike<number> | null): void {
  // Each mask is requested (and its area counted) at most once.
  const dts = refineScratch;
  dts.length = 0;
  dts.length = m;
  if (refineAreas.length < m) refineAreas = new Float64Array(Math.max(m, refineAreas.length * 2));
  const dtArea = refineAreas;
  for (let g = 0; g < n; g++) {
    const crowd = iscrowd !== null && iscrowd[g] ? true : false;
    let G: Rle | undefined;
    let gArea = 0;
    for (let d = 0; d < m; d++) {
      if (!(o[d * n + g]! > 0)) continue;
      if (!G) {
        G = gtAt(g);
        gArea = rleArea(G);
      }
      let D = dts[d];
      if (!D) {
        D = dts[d] = dtAt(d);
        dtArea[d] = rleArea(D);
      }
      if (D.h !== G.h || D.w !== G.w) {
        o[d * n + g] = -1;
        continue;
      }
      const inter = rleIntersection(D.counts, G.counts);
      // Of masks whose runs cover the same pixels, the union is |D| + |G| - |D ∩ G|,
      // which is what pycocotools' run-by-run walk adds up (that walk never
      // ends on runs of different totals; this does).
      const uni = inter === 0 ? 1 : crowd ? dtArea[d]! : dtArea[d]! + gArea - inter;
      o[d * n + g] = inter / uni;
    }
  }
}

/**
 * Foreground pixels two RLEs share: their foreground intervals walked in
 * order, as a merge of two sorted interval lists.
 */
export function rleIntersection(a: Uint32Array, b: Uint32Array): number {
  const na = a.length;
  const nb = b.length;
  if (na < 2 || nb < 2) return 0;
  // Current foreground interval [as, ae) of a (from counts ia, ia+1), and of b.
  let as = a[0]!;
  let ae = as + a[1]!;
  let ia = 2;
  let bs = b[0]!;
  let be = bs + b[1]!;
  let ib = 2;
  let inter = 0;
  for (;;) {
    const lo = as > bs ? as : bs;
    const hi = ae < be ? ae : be;
    if (hi > lo) inter += hi - lo;
    if (ae <= be) {
      if (ia + 1 >= na) break;
      as = ae + a[ia]!;
      ae = as + a[ia + 1]!;
      ia += 2;
    } else {
      if (ib + 1 >= nb) break;
      bs = be + b[ib]!;
      be = bs + b[ib + 1]!;
      ib += 2;
    }
  }
  return inter;
}

function boxesOf(rs: readonly Rle[]): Float64Array {
  const out = new Float64Array(rs.length * 4);
  rs.forEach((r, i) => out.set(rleToBbox(r), i * 4));
  return out;
}

/** Scratch for rasterising (it runs 10^4-10^5 times per evaluation). */
const polygonScratch = rasterScratch();

/**
 * Rasterise a polygon [x0,y0,x1,y1,...] the way pycocotools does, to the
 * bit (see polygon-raster.ts).
 */
export function rleFrPoly(xy: ArrayLike<number>, h: number, w: number): Rle {
  return { h, w, counts: rasterizePolygon(xy, h, w, polygonScratch) };
}

/** A box [x,y,w,h] as the RLE of its 4-corner polygon (so it inherits polygon rounding). */
export function rleFrBbox(bb: ArrayLike<number>, h: number, w: number): Rle {
  const xs = bb[0]!;
  const xe = xs + bb[2]!;
  const ys = bb[1]!;
  const ye = ys + bb[3]!;
  return rleFrPoly([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}

/** pycocotools' compressed counts string (5 bits per char + 48, deltas from i > 2). */
export function rleToString(r: Rle): string {
  const c = r.counts;
  const parts: number[] = [];
  for (let i = 0; i < c.length; i++) {
    let x = c[i]!;
    if (i > 2) x -= c[i - 2]!;
    let more = true;
    while (more) {
      let ch = x & 0x1f;
      // Arithmetic shift of a 64-bit long; |x| < 2^33 so floor division is exact.
      x = Math.floor(x / 32);
      more = ch & 0x10 ? x !== -1 : x !== 0;
      if (more) ch |= 0x20;
      parts.push(ch + 48);
    }
  }
  return String.fromCharCode(...parts);
}

let countsScratch = new Uint32Array(4096);

/** The value `readDelta` decoded last (a module-level slot keeps the hot loops allocation-free). */
let delta = 0;

/**
 * Decode the signed, LEB128-like value starting at s[p] into `delta` and
 * return the position after it: 5 bits per character (+48), 0x20 = more
 * follows, 0x10 on the last = negative. Characters outside '0'..'o' or a
 * dangling continuation are errors.
 */
function readDelta(s: string, p: number): number {
  const n = s.length;
  let x = 0;
  let k = 0;
  let c = 0;
  do {
    if (p >= n) return badString(s, p, 'ends inside a count');
    c = s.charCodeAt(p) - 48;
    if (c >>> 6) return badString(s, p, 'has an invalid character');
    // Groups below bit 30 fit int32 bit operations; wider values (rare) use floats.
    if (k < 6) x |= (c & 0x1f) << (5 * k);
    else x += (c & 0x1f) * 2 ** (5 * k);
    p++;
    k++;
  } while (c & 0x20);
  if (c & 0x10) {
    if (k <= 6) x |= -1 << (5 * k);
    else x -= 2 ** (5 * k);
  }
  delta = x;
  return p;
}

/** Parse a compressed counts string. Characters outside '0'..'o' or a dangling continuation are errors. */
export function rleFrString(s: string, h: number, w: number): Rle {
  const n = s.length;
  if (countsScratch.length < n) countsScratch = new Uint32Array(Math.max(n, countsScratch.length * 2));
  const cnts = countsScratch;
  let m = 0;
  let p = 0;
  while (p < n) {
    p = readDelta(s, p);
    let x = delta;
    if (m > 2) x += cnts[m - 2]!;
    cnts[m++] = x >>> 0;
  }
  return { h, w, counts: cnts.slice(0, m) };
}

/**
 * Total, area and box of a compressed counts string — the same numbers as
 * rleFrString followed by rleArea and rleToBbox, without making the counts
 * array (loading 10^5 mask results needs only these; the runs themselves
 * are decoded later for the few pairs whose boxes overlap).
 */
export function rleStringSummary(s: string, h: number, w: number): RleStringSummary {
  const out = new Float64Array(Summary.Length);
  // Counts characters are '0'..'o': a string with wider ones is malformed, and one without reads as its latin1 bytes.
  if (/[^\x00-\xff]/.test(s) || !summarizeCountsBytes(Buffer.from(s, 'latin1'), 0, s.length, h, w, out, false)) {
    rleFrString(s, h, w); // throws, locating the fault
    throw new MaskApiError('Invalid RLE string', 'ValueError');
  }
  return { total: out[Summary.Total]!, area: out[Summary.Area]!, bbox: [out[Summary.Box]!, out[Summary.Box + 1]!, out[Summary.Box + 2]!, out[Summary.Box + 3]!] };
}

function badString(s: string, p: number, what: string): never {
  throw new MaskApiError(p >= s.length ? `RLE string ${what} at character ${p}` : `RLE string ${what} '${s[p]}' at ${p}`, 'ValueError');
}
