import { EvalInputError } from '../errors.js';
import { accumulateCategory, type CategoryResult } from './accumulate-category.js';
import { formatFixed, npMean } from '../numeric/numpy.js';
import type { Coco } from './coco.js';
import { greedyMatch } from './match.js';
import { Params, type IouType } from './params.js';
import { bbIou, refineRleIou, rleToBbox } from './rle.js';
import { CountsArena } from './rle-bytes.js';
import { HelperThread, type AccumulateJob } from './helper-thread.js';
import type { CocoAnnotation } from './types.js';

/** Detections from which a helper thread accumulates while evaluate() runs. */
const PARALLEL_DETECTIONS = 20000;

export interface CocoEvalOptions {
  /** 1: all on this thread. 2: a helper thread accumulates while evaluate() runs. By default, from 20,000 detections. */
  threads?: 1 | 2;
}

/** pycocotools' evaluateImg result for one (image, category, area range). */
export interface EvalImg {
  image_id: number;
  category_id: number;
  aRng: [number, number];
  maxDet: number;
  dtIds: number[];
  gtIds: number[];
  /** [T][D]: id of the matched GT, 0 if unmatched. */
  dtMatches: number[][];
  /** [T][G]: id of the matched detection, 0 if unmatched. */
  gtMatches: number[][];
  dtScores: number[];
  gtIgnore: number[];
  dtIgnore: number[][];
}

/** The accumulated arrays, C order: precision [T][R][K][A][M], recall [T][K][A][M]. */
export interface Accumulated {
  counts: [number, number, number, number, number];
  precision: Float64Array;
  recall: Float64Array;
  scores: Float64Array;
}

/**
 * Annotations bucketed by cell (image, category) with a counting sort:
 * `idx[start[c] .. start[c+1])` are the annotation indices of cell c, in
 * the order pycocotools groups them.
 */
interface Buckets {
  start: Int32Array;
  idx: Int32Array;
}


function uniqueSorted(v: readonly number[]): number[] {
  return [...new Set(v)].sort((a, b) => a - b);
}

/** One numeric field of every annotation (a plain loop: TypedArray.from with a map function is several times slower). */
function column(anns: readonly CocoAnnotation[], field: (a: CocoAnnotation) => number): Float64Array {
  const out = new Float64Array(anns.length);
  for (let i = 0; i < anns.length; i++) out[i] = field(anns[i]!);
  return out;
}

/**
 * Indices of `idx[lo..hi)` ordered by descending score, ties in input order
 * (numpy's stable mergesort), written to the start of `out` (which must hold hi - lo).
 */
function sortByScoreInto(idx: Int32Array, lo: number, hi: number, score: Float64Array, out: Int32Array): void {
  const n = hi - lo;
  for (let i = 0; i < n; i++) out[i] = idx[lo + i]!;
  if (n < 32) {
    for (let i = 1; i < n; i++) {
      const v = out[i]!;
      const s = score[v]!;
      let j = i - 1;
      while (j >= 0 && score[out[j]!]! < s) {
        out[j + 1] = out[j]!;
        j--;
      }
      out[j + 1] = v;
    }
    return;
  }
  const arr = Array.from(out.subarray(0, n));
  arr.sort((a, b) => score[b]! - score[a]!);
  out.set(arr);
}

const NO_IOUS = new Float64Array(0);

/**
 * Zeroed arrays for one category's results, in one buffer — shared memory
 * when a helper thread will read them.
 */
function categoryResult(cells: number, N: number, T: number, A: number, shared: boolean): CategoryResult {
  // Float64 parts first, then int32, then bytes: every view stays aligned.
  const flagsAt = 8 * (N + A) + 8 * cells;
  const buf = shared ? new SharedArrayBuffer(flagsAt + 2 * A * T * N) : new ArrayBuffer(flagsAt + 2 * A * T * N);
  const flags = (j: number) => new Uint8Array(buf, flagsAt + j * T * N, T * N);
  return {
    scores: new Float64Array(buf, 0, N),
    npig: new Float64Array(buf, 8 * N, A),
    cellOffset: new Int32Array(buf, 8 * (N + A), cells),
    cellCount: new Int32Array(buf, 8 * (N + A) + 4 * cells, cells),
    tp: Array.from({ length: A }, (_, a) => flags(a)),
    ig: Array.from({ length: A }, (_, a) => flags(A + a)),
  };
}

/** `buf` if it holds n entries, else a new one twice as large (contents are not kept). */
function atLeast<T extends Int32Array | Float64Array | Uint8Array>(buf: T, n: number, make: (n: number) => T): T {
  return buf.length >= n ? buf : make(Math.max(n, buf.length * 2));
}

/** Buffers reused across the 10^4–10^5 cells of an evaluation, grown as needed (an allocation per cell is what evaluation time would go to). */
class CellScratch {
  private order = new Int32Array(256);
  private ious = new Float64Array(1024);
  private dtBoxes = new Float64Array(1024);
  private gtBoxes = new Float64Array(256);
  private crowd = new Uint8Array(64);

  orderOf(n: number): Int32Array {
    return (this.order = atLeast(this.order, n, (m) => new Int32Array(m)));
  }

  /** Exactly n entries (the IoU matrix is returned to callers). */
  iousOf(n: number): Float64Array {
    return (this.ious = atLeast(this.ious, n, (m) => new Float64Array(m))).subarray(0, n);
  }

  dtBoxesOf(n: number): Float64Array {
    return (this.dtBoxes = atLeast(this.dtBoxes, n, (m) => new Float64Array(m)));
  }

  gtBoxesOf(n: number): Float64Array {
    return (this.gtBoxes = atLeast(this.gtBoxes, n, (m) => new Float64Array(m)));
  }

  crowdOf(n: number): Uint8Array {
    return (this.crowd = atLeast(this.crowd, n, (m) => new Uint8Array(m)));
  }
}


/**
 * COCO detection evaluation, numerically identical to pycocotools'
 * COCOeval for iouType bbox and segm (every quirk of the reference is kept:
 * stable sorts, per-image-per-category maxDets, inclusive area ranges,
 * greedy matching where equal IoUs go to the later GT, 101-point
 * interpolation with early-stop zeros, numpy's pairwise mean).
 *
 * Usage mirrors pycocotools: evaluate(), accumulate(), summarize().
 */
export class CocoEval {
  readonly params: Params;
  /** Where a cell's detection masks are decoded while they are compared. */
  private readonly arena = new CountsArena();
  private readonly scratch = new CellScratch();
  stats: number[] = [];
  summaryText = '';
  eval?: Accumulated;
  private state?: {
    imgIds: number[];
    catIds: number[];
    areaRng: [number, number][];
    maxDets: number[];
    useCats: boolean;
    nCatsInKey: number;
    gts: CocoAnnotation[];
    dts: CocoAnnotation[];
    gtB: Buckets;
    dtB: Buckets;
    dtScore: Float64Array;
    /** [x,y,w,h] of every GT / detection (bbox evaluation), and GT crowd flags. */
    gtBox: Float64Array;
    dtBox: Float64Array;
    gtCrowd: Uint8Array;
    results: (CategoryResult | null)[];
  };

  /** A helper thread accumulating categories while evaluate() runs, and what it was given. */
  private pipeline?: { helper: HelperThread; job: AccumulateJob; recThrs: number[]; T: number };

  constructor(
    readonly cocoGt: Coco,
    readonly cocoDt: Coco,
    iouType: IouType = 'segm',
    private readonly options: CocoEvalOptions = {},
  ) {
    this.params = new Params(iouType);
    this.params.imgIds = uniqueSorted(cocoGt.getImgIds());
    this.params.catIds = uniqueSorted(cocoGt.getCatIds());
  }

  /** Bucket annotations by cell; without useCats a cell is an image, categories kept in catIds order. */
  private bucket(anns: CocoAnnotation[], imgIndex: Map<number, number>, catIndex: Map<number, number>, useCats: boolean, nCells: number): Buckets {
    const K = catIndex.size;
    const key = new Int32Array(anns.length);
    const counts = new Int32Array(nCells + 1);
    // Order of members inside a cell: file order (useCats), or category then file order.
    let order: number[] | null = null;
    if (!useCats) {
      order = anns.map((_, i) => i);
      order.sort((a, b) => catIndex.get(anns[a]!.category_id)! - catIndex.get(anns[b]!.category_id)! || a - b);
    }
    for (let j = 0; j < anns.length; j++) {
      const a = anns[j]!;
      const ii = imgIndex.get(a.image_id);
      const ci = catIndex.get(a.category_id);
      if (ii === undefined || ci === undefined) {
        key[j] = -1;
        continue;
      }
      const c = useCats ? ii * K + ci : ii;
      key[j] = c;
      counts[c + 1]!++;
    }
    const start = new Int32Array(nCells + 1);
    for (let c = 0; c < nCells; c++) start[c + 1] = start[c]! + counts[c + 1]!;
    const fill = start.slice(0, nCells);
    const idx = new Int32Array(start[nCells]!);
    for (let q = 0; q < anns.length; q++) {
      const j = order ? order[q]! : q;
      const c = key[j]!;
      if (c >= 0) idx[fill[c]!++] = j;
    }
    return { start, idx };
  }

  /** [x,y,w,h] of the evaluated annotations (those in a cell), by annotation index. */
  private boxesOf(anns: CocoAnnotation[], cells: Buckets, coco: Coco, needed: boolean): Float64Array {
    if (!needed) return new Float64Array(0);
    const out = new Float64Array(anns.length * 4);
    for (const i of cells.idx) {
      const b = anns[i]!.bbox;
      if (!b || b.length !== 4) throw new EvalInputError(`annotation ${anns[i]!.id} has no bbox`, coco.source);
      out[i * 4] = b[0]!;
      out[i * 4 + 1] = b[1]!;
      out[i * 4 + 2] = b[2]!;
      out[i * 4 + 3] = b[3]!;
    }
    return out;
  }

  /**
   * IoU matrix [D][G] of one cell: detections (sorted) against GT in file
   * order. It lives in a reused buffer, valid until the next call.
   */
  private cellIous(dtOrder: Int32Array, gtMembers: Int32Array): Float64Array {
    const s = this.state!;
    const D = dtOrder.length;
    const G = gtMembers.length;
    if (D === 0 || G === 0) return NO_IOUS;
    const o = this.scratch.iousOf(D * G);
    if (this.params.iouType === 'bbox') {
      // pycocotools' bbIou over the cell's rows of the precomputed box arrays.
      o.fill(0);
      for (let g = 0; g < G; g++) {
        const gi = gtMembers[g]! * 4;
        const G0 = s.gtBox[gi]!;
        const G1 = s.gtBox[gi + 1]!;
        const G2 = s.gtBox[gi + 2]!;
        const G3 = s.gtBox[gi + 3]!;
        const ga = G2 * G3;
        const crowd = s.gtCrowd[gtMembers[g]!] === 1;
        for (let d = 0; d < D; d++) {
          const di = dtOrder[d]! * 4;
          const D0 = s.dtBox[di]!;
          const D1 = s.dtBox[di + 1]!;
          const D2 = s.dtBox[di + 2]!;
          const D3 = s.dtBox[di + 3]!;
          const w = Math.min(D2 + D0, G2 + G0) - Math.max(D0, G0);
          if (w <= 0) continue;
          const h = Math.min(D3 + D1, G3 + G1) - Math.max(D1, G1);
          if (h <= 0) continue;
          const i = w * h;
          const da = D2 * D3;
          o[d * G + g] = i / (crowd ? da : da + ga - i);
        }
      }
      return o;
    }
    const crowd = this.scratch.crowdOf(G);
    for (let g = 0; g < G; g++) crowd[g] = s.gtCrowd[gtMembers[g]!]!;
    // Mask IoU as pycocotools' rleIou: box overlap of the masks' tight boxes
    // first, then run-by-run comparison where the boxes overlap — decoding
    // a detection's runs only if it reaches that step.
    // A detection's mask is needed in this one cell only, so its runs go to
    // a reused buffer (its box was found when the results were loaded). GT
    // masks come from the GT's cache: a helper thread may have rasterised
    // them while the results were loading.
    const db = this.scratch.dtBoxesOf(D * 4);
    const gb = this.scratch.gtBoxesOf(G * 4);
    const gtRles = Array.from(gtMembers, (g) => this.cocoGt.annToRle(s.gts[g]!));
    for (let d = 0; d < D; d++) this.cocoDt.maskBoxInto(s.dts[dtOrder[d]!]!, db, d * 4);
    for (let g = 0; g < G; g++) gb.set(rleToBbox(gtRles[g]!), g * 4);
    bbIou(db, gb, D, G, crowd, o);
    this.arena.reset();
    refineRleIou(o, D, G, (d) => this.cocoDt.annToRleIn(s.dts[dtOrder[d]!]!, this.arena), (g) => gtRles[g]!, crowd);
    return o;
  }

  /** Detections of a cell sorted by score and truncated to maxDets[-1]; GT members in file order. */
  private cell(c: number): { dtOrder: Int32Array; gtMembers: Int32Array } {
    const s = this.state!;
    const maxDet = s.maxDets[s.maxDets.length - 1]!;
    const lo = s.dtB.start[c]!;
    const hi = s.dtB.start[c + 1]!;
    const order = this.scratch.orderOf(hi - lo);
    sortByScoreInto(s.dtB.idx, lo, hi, s.dtScore, order);
    return { dtOrder: order.subarray(0, Math.min(hi - lo, maxDet)), gtMembers: s.gtB.idx.subarray(s.gtB.start[c]!, s.gtB.start[c + 1]!) };
  }

  /** Run per-image evaluation for every (category, area range, image). */
  evaluate(): void {
    const p = this.params;
    const imgIds = uniqueSorted(p.imgIds);
    const catIds = p.useCats ? uniqueSorted(p.catIds) : [...p.catIds];
    const maxDets = [...p.maxDets].sort((a, b) => a - b);
    p.imgIds = imgIds;
    p.catIds = catIds;
    p.maxDets = maxDets;
    const maxDet = maxDets[maxDets.length - 1]!;
    const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
    const catIndex = new Map(catIds.map((id, i) => [id, i]));
    const I = imgIds.length;
    const Kk = p.useCats ? catIds.length : 1;
    const nCells = I * Kk;
    // All annotations, in file order: bucketing keeps only those of the evaluated
    // images (and categories), in the order pycocotools' getAnnIds gives within a cell.
    const gts = this.cocoGt.dataset.annotations;
    const dts = this.cocoDt.dataset.annotations;
    const dtScore = column(dts, (d) => d.score ?? 0);
    const gtB = this.bucket(gts, imgIndex, catIndex, p.useCats, nCells);
    const dtB = this.bucket(dts, imgIndex, catIndex, p.useCats, nCells);
    this.state = {
      imgIds,
      catIds,
      areaRng: p.areaRng.map((r) => [r[0], r[1]] as [number, number]),
      maxDets,
      useCats: p.useCats,
      nCatsInKey: Kk,
      gts,
      dts,
      gtB,
      dtB,
      dtScore,
      gtBox: this.boxesOf(gts, gtB, this.cocoGt, p.iouType === 'bbox'),
      dtBox: this.boxesOf(dts, dtB, this.cocoDt, p.iouType === 'bbox'),
      gtCrowd: Uint8Array.from(gts, (g) => (g.iscrowd ? 1 : 0)),
      results: [],
    };
    const s = this.state;
    const T = p.iouThrs.length;
    const A = s.areaRng.length;
    // With many detections a helper thread accumulates each category as soon as it is evaluated.
    this.pipeline?.helper.close();
    this.pipeline = undefined;
    const threads = this.options.threads;
    const helper = threads === 2 || (threads === undefined && dts.length >= PARALLEL_DETECTIONS) ? HelperThread.start() : null;
    if (helper) {
      const job = helper.accumulate([T, p.recThrs.length, Kk, A, maxDets.length], p.recThrs, maxDets);
      this.pipeline = { helper, job, recThrs: [...p.recThrs], T };
    }
    const job = this.pipeline?.job;
    const gtArea = column(gts, (g) => g.area);
    const gtCrowd = s.gtCrowd;
    const gtId = column(gts, (g) => g.id);
    const dtArea = column(dts, (d) => d.area);
    const dtId = column(dts, (d) => d.id);
    const areaLo = Float64Array.from(s.areaRng, (r) => r[0]);
    const areaHi = Float64Array.from(s.areaRng, (r) => r[1]);
    // Scratch buffers, grown as needed.
    let cap = 0;
    let dtm = new Float64Array(0);
    let gtm = new Float64Array(0);
    let dtIg = new Uint8Array(0);
    let gCap = 0;
    let order = new Int32Array(0);
    let ig = new Uint8Array(0);
    let crowd = new Uint8Array(0);
    let ids = new Float64Array(0);
    let dIds = new Float64Array(0);

    for (let k = 0; k < Kk; k++) {
      // Pass 1: the cells of this category in image order, and their detection counts.
      const cells: number[] = [];
      let N = 0;
      for (let ii = 0; ii < I; ii++) {
        const c = ii * Kk + k;
        const nd = s.dtB.start[c + 1]! - s.dtB.start[c]!;
        const ng = s.gtB.start[c + 1]! - s.gtB.start[c]!;
        if (nd === 0 && ng === 0) continue;
        cells.push(c);
        N += Math.min(nd, maxDet);
      }
      if (cells.length === 0) {
        s.results.push(null);
        continue;
      }
      const res = categoryResult(cells.length, N, T, A, job !== undefined);
      let off = 0;
      for (let ci = 0; ci < cells.length; ci++) {
        const { dtOrder, gtMembers } = this.cell(cells[ci]!);
        const D = dtOrder.length;
        const G = gtMembers.length;
        res.cellOffset[ci] = off;
        res.cellCount[ci] = D;
        for (let d = 0; d < D; d++) res.scores[off + d] = dtScore[dtOrder[d]!]!;
        if (G === 0) {
          // Nothing to match: no detection is a true positive (tp stays 0), and
          // those outside an area range are ignored there.
          for (let a = 0; a < A; a++) {
            const lo = areaLo[a]!;
            const hi = areaHi[a]!;
            const igA = res.ig[a]!;
            for (let d = 0; d < D; d++) {
              const da = dtArea[dtOrder[d]!]!;
              if (da < lo || da > hi) for (let t = 0; t < T; t++) igA[t * N + off + d] = 1;
            }
          }
          off += D;
          continue;
        }
        const ious = this.cellIous(dtOrder, gtMembers);
        if (T * D > cap) {
          cap = T * D * 2;
          dtm = new Float64Array(cap);
          dtIg = new Uint8Array(cap);
        }
        if (G > gCap) {
          gCap = G * 2;
          gtm = new Float64Array(T * gCap);
          order = new Int32Array(gCap);
          ig = new Uint8Array(gCap);
          crowd = new Uint8Array(gCap);
          ids = new Float64Array(gCap);
        }
        if (D > dIds.length) dIds = new Float64Array(D * 2);
        for (let d = 0; d < D; d++) dIds[d] = dtId[dtOrder[d]!]!;
        for (let a = 0; a < A; a++) {
          const lo = areaLo[a]!;
          const hi = areaHi[a]!;
          // GT order: non-ignored first, stable.
          let q = 0;
          for (let pass = 0; pass < 2; pass++) {
            for (let g = 0; g < G; g++) {
              const gi = gtMembers[g]!;
              const ignored = gtCrowd[gi] || gtArea[gi]! < lo || gtArea[gi]! > hi ? 1 : 0;
              if (ignored !== pass) continue;
              order[q] = g;
              ig[q] = ignored;
              crowd[q] = gtCrowd[gi]!;
              ids[q] = gtId[gi]!;
              q++;
            }
          }
          let npig = 0;
          for (let g = 0; g < G; g++) if (!ig[g]) npig++;
          res.npig[a]! += npig;
          dtm.fill(0, 0, T * D);
          dtIg.fill(0, 0, T * D);
          gtm.fill(0, 0, T * G);
          greedyMatch(p.iouThrs, ious, D, G, G, order, ig, crowd, ids, dIds, dtm, gtm, dtIg);
          const tpA = res.tp[a]!;
          const igA = res.ig[a]!;
          for (let t = 0; t < T; t++) {
            for (let d = 0; d < D; d++) {
              const matched = dtm[t * D + d] !== 0;
              tpA[t * N + off + d] = matched ? 1 : 0;
              // Unmatched detections outside the area range are ignored.
              const da = dtArea[dtOrder[d]!]!;
              igA[t * N + off + d] = dtIg[t * D + d] || (!matched && (da < lo || da > hi)) ? 1 : 0;
            }
          }
        }
        off += D;
      }
      s.results.push(res);
      job?.post(k, res);
    }
  }

  private requireEvaluated() {
    if (!this.state) throw new Error('run evaluate() first');
    return this.state;
  }

  private cellIndex(imgId: number, catId: number): number {
    const s = this.requireEvaluated();
    const ii = s.imgIds.indexOf(imgId);
    const ci = s.useCats ? s.catIds.indexOf(catId) : 0;
    return ii < 0 || ci < 0 ? -1 : ii * s.nCatsInKey + ci;
  }

  /** pycocotools' evaluateImg for one image and category (after evaluate()); null where pycocotools returns None. */
  evaluateImg(imgId: number, catId: number, aRng: [number, number], maxDet: number): EvalImg | null {
    const s = this.requireEvaluated();
    const c = this.cellIndex(imgId, catId);
    if (c < 0) return null;
    const { dtOrder: all, gtMembers } = this.cell(c);
    if (all.length === 0 && gtMembers.length === 0) return null;
    const ious = this.cellIous(all, gtMembers);
    const dtOrder = all.subarray(0, Math.min(all.length, maxDet));
    const T = this.params.iouThrs.length;
    const D = dtOrder.length;
    const Gfull = gtMembers.length;
    const gtIgFile = Array.from(gtMembers, (gi) => {
      const g = s.gts[gi]!;
      return g.iscrowd || g.area < aRng[0] || g.area > aRng[1] ? 1 : 0;
    });
    const order = Int32Array.from(gtIgFile.map((_, i) => i).sort((a, b) => gtIgFile[a]! - gtIgFile[b]! || a - b));
    const G = order.length;
    const gt = Array.from(order, (g) => s.gts[gtMembers[g]!]!);
    const ig = Uint8Array.from(order, (g) => gtIgFile[g]!);
    const dtm = new Float64Array(T * D);
    const gtm = new Float64Array(T * G);
    const dtIg = new Uint8Array(T * D);
    greedyMatch(
      this.params.iouThrs,
      ious,
      D,
      G,
      Gfull,
      order,
      ig,
      Uint8Array.from(gt, (g) => (g.iscrowd ? 1 : 0)),
      Float64Array.from(gt, (g) => g.id),
      Float64Array.from(dtOrder, (i) => s.dts[i]!.id),
      dtm,
      gtm,
      dtIg,
    );
    for (let d = 0; d < D; d++) {
      const area = s.dts[dtOrder[d]!]!.area;
      if (area < aRng[0] || area > aRng[1]) for (let t = 0; t < T; t++) if (dtm[t * D + d] === 0) dtIg[t * D + d] = 1;
    }
    const rows = (a: ArrayLike<number>, n: number) => Array.from({ length: T }, (_, t) => Array.from(a).slice(t * n, (t + 1) * n));
    return {
      image_id: imgId,
      category_id: catId,
      aRng,
      maxDet,
      dtIds: Array.from(dtOrder, (i) => s.dts[i]!.id),
      gtIds: gt.map((g) => g.id),
      dtMatches: rows(dtm, D),
      gtMatches: rows(gtm, G),
      dtScores: Array.from(dtOrder, (i) => s.dts[i]!.score!),
      gtIgnore: Array.from(ig),
      dtIgnore: rows(dtIg, D),
    };
  }

  /** pycocotools' computeIoU for one image and category: rows = detections by score, columns = GT in file order. */
  computeIoU(imgId: number, catId: number): number[][] {
    const c = this.cellIndex(imgId, catId);
    if (c < 0) return [];
    const { dtOrder, gtMembers } = this.cell(c);
    const ious = this.cellIous(dtOrder, gtMembers);
    if (ious.length === 0) return [];
    const G = gtMembers.length;
    return Array.from(dtOrder, (_, d) => Array.from(ious.subarray(d * G, (d + 1) * G)));
  }

  /** Accumulate per-image results into precision / recall arrays (pycocotools' accumulate). */
  accumulate(): Accumulated {
    const s = this.requireEvaluated();
    const p = this.params;
    const T = p.iouThrs.length;
    const R = p.recThrs.length;
    const K = s.nCatsInKey;
    const A = s.areaRng.length;
    const M = s.maxDets.length;
    const pipe = this.pipeline;
    this.pipeline = undefined;
    // The helper's work stands if the thresholds are still those it was given.
    if (pipe && pipe.T === T && pipe.recThrs.length === R && pipe.recThrs.every((v, i) => v === p.recThrs[i])) {
      const out = pipe.job.finish(s.results);
      pipe.helper.close();
      this.eval = { counts: [T, R, K, A, M], precision: out.precision, recall: out.recall, scores: out.scores };
      return this.eval;
    }
    pipe?.helper.close();
    const precision = new Float64Array(T * R * K * A * M).fill(-1);
    const recall = new Float64Array(T * K * A * M).fill(-1);
    const scoresOut = new Float64Array(T * R * K * A * M).fill(-1);
    for (let k = 0; k < K; k++) {
      const res = s.results[k];
      // One call per category: the compiler optimises this small function after a few categories.
      if (res) accumulateCategory(res, k, [T, R, K, A, M], p.recThrs, s.maxDets, precision, recall, scoresOut);
    }
    this.eval = { counts: [T, R, K, A, M], precision, recall, scores: scoresOut };
    return this.eval;
  }

  /** Mean of the valid (> -1) entries of one summary slice; -1 when none (pycocotools' _summarize). */
  private summarizeOne(ap: boolean, iouThr: number | undefined, areaLbl: string, maxDets: number): number {
    const acc = this.eval!;
    const p = this.params;
    const [T, R, K, A, M] = acc.counts;
    const aind = p.areaRngLbl.indexOf(areaLbl);
    const mind = p.maxDets.indexOf(maxDets);
    const ts = iouThr === undefined ? [...Array(T).keys()] : p.iouThrs.flatMap((v, i) => (v === iouThr ? [i] : []));
    const vals: number[] = [];
    if (aind >= 0 && mind >= 0) {
      for (const t of ts) {
        if (ap) {
          for (let r = 0; r < R; r++)
            for (let k = 0; k < K; k++) {
              const v = acc.precision[(((t * R + r) * K + k) * A + aind) * M + mind]!;
              if (v > -1) vals.push(v);
            }
        } else {
          for (let k = 0; k < K; k++) {
            const v = acc.recall[((t * K + k) * A + aind) * M + mind]!;
            if (v > -1) vals.push(v);
          }
        }
      }
    }
    return vals.length === 0 ? -1 : npMean(vals);
  }

  /** The 12 COCO numbers, and the text pycocotools prints (in `summaryText`). */
  summarize(): number[] {
    if (!this.eval) throw new Error('run accumulate() first');
    const p = this.params;
    const lines: string[] = [];
    const one = (ap: boolean, iouThr?: number, areaRng = 'all', maxDets = 100): number => {
      const v = this.summarizeOne(ap, iouThr, areaRng, maxDets);
      const title = ap ? 'Average Precision' : 'Average Recall';
      const type = ap ? '(AP)' : '(AR)';
      const iouStr = iouThr === undefined ? `${formatFixed(p.iouThrs[0]!, 2)}:${formatFixed(p.iouThrs[p.iouThrs.length - 1]!, 2)}` : formatFixed(iouThr, 2);
      lines.push(` ${title.padEnd(18)} ${type} @[ IoU=${iouStr.padEnd(9)} | area=${areaRng.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${formatFixed(v, 3)}`);
      return v;
    };
    const md = p.maxDets;
    this.stats = [
      one(true),
      one(true, 0.5, 'all', md[2]),
      one(true, 0.75, 'all', md[2]),
      one(true, undefined, 'small', md[2]),
      one(true, undefined, 'medium', md[2]),
      one(true, undefined, 'large', md[2]),
      one(false, undefined, 'all', md[0]),
      one(false, undefined, 'all', md[1]),
      one(false, undefined, 'all', md[2]),
      one(false, undefined, 'small', md[2]),
      one(false, undefined, 'medium', md[2]),
      one(false, undefined, 'large', md[2]),
    ];
    this.summaryText = `${lines.join('\n')}\n`;
    return this.stats;
  }

  /** Per-category AP (all IoUs), AP50, AP75 at area all and the largest maxDets; null where undefined. */
  perCategory(): { categoryId: number; ap: number | null; ap50: number | null; ap75: number | null }[] {
    if (!this.eval) throw new Error('run accumulate() first');
    const s = this.requireEvaluated();
    const p = this.params;
    const [T, R, K, A, M] = this.eval.counts;
    const aind = p.areaRngLbl.indexOf('all');
    const mind = M - 1;
    const mean = (k: number, ts: number[]): number | null => {
      const vals: number[] = [];
      for (const t of ts)
        for (let r = 0; r < R; r++) {
          const v = this.eval!.precision[(((t * R + r) * K + k) * A + aind) * M + mind]!;
          if (v > -1) vals.push(v);
        }
      return vals.length ? npMean(vals) : null;
    };
    const tIdx = (thr: number) => p.iouThrs.flatMap((v, i) => (v === thr ? [i] : []));
    return Array.from({ length: K }, (_, k) => ({
      categoryId: s.useCats ? s.catIds[k]! : -1,
      ap: mean(k, [...Array(T).keys()]),
      ap50: mean(k, tIdx(0.5)),
      ap75: mean(k, tIdx(0.75)),
    }));
  }
}
