import { accumulateCategory, emptyCategoryResult, type Accumulated, type CategoryResult } from './accumulate-category.js';
import { bucketByCell, sortByScoreInto, type Buckets } from './cell-buckets.js';
import { CellIous } from './cell-ious.js';
import type { Coco } from './coco.js';
import { HelperThread, type AccumulateJob } from './helper-thread.js';
import { greedyMatch } from './match.js';
import { Params, type IouType } from './params.js';
import { perCategoryAp, summarizeAccumulated } from './summarize.js';

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

function uniqueSorted(v: readonly number[]): number[] {
  return [...new Set(v)].sort((a, b) => a - b);
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
  /** A cell's detections in score order (reused across cells, grown as needed). */
  private order = new Int32Array(256);
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
    gtCrowd: Uint8Array;
    gtArea: Float64Array;
    gtId: Float64Array;
    dtArea: Float64Array;
    dtId: Float64Array;
    gtB: Buckets;
    dtB: Buckets;
    dtScore: Float64Array;
    ious: CellIous;
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

  /** Detections of a cell sorted by score and truncated to maxDets[-1]; GT members in file order. */
  private cell(c: number): { dtOrder: Int32Array; gtMembers: Int32Array } {
    const s = this.state!;
    const maxDet = s.maxDets[s.maxDets.length - 1]!;
    const lo = s.dtB.start[c]!;
    const hi = s.dtB.start[c + 1]!;
    if (this.order.length < hi - lo) this.order = new Int32Array(Math.max(hi - lo, this.order.length * 2));
    const order = this.order;
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
    const gts = this.cocoGt.columns;
    const dts = this.cocoDt.columns;
    const dtScore = dts.numbers('score');
    const gtB = bucketByCell(gts.numbers('image_id'), gts.numbers('category_id'), imgIndex, catIndex, p.useCats, nCells);
    const dtB = bucketByCell(dts.numbers('image_id'), dts.numbers('category_id'), imgIndex, catIndex, p.useCats, nCells);
    const gtCrowd = gts.crowdFlags();
    // Checks the boxes of a bbox evaluation, before any state is kept.
    const ious = new CellIous(p.iouType, this.cocoGt, this.cocoDt, gtCrowd, gtB, dtB);
    this.state = {
      imgIds,
      catIds,
      areaRng: p.areaRng.map((r) => [r[0], r[1]] as [number, number]),
      maxDets,
      useCats: p.useCats,
      nCatsInKey: Kk,
      gtCrowd,
      gtArea: gts.numbers('area'),
      gtId: gts.numbers('id'),
      dtArea: dts.numbers('area'),
      dtId: dts.numbers('id'),
      gtB,
      dtB,
      dtScore,
      ious,
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
    const { gtArea, gtId, dtArea, dtId } = s;
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
      const res = emptyCategoryResult(cells.length, N, T, A, job !== undefined);
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
        const ious = s.ious.of(dtOrder, gtMembers);
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
    const ious = s.ious.of(all, gtMembers);
    const dtOrder = all.subarray(0, Math.min(all.length, maxDet));
    const T = this.params.iouThrs.length;
    const D = dtOrder.length;
    const Gfull = gtMembers.length;
    const gtIgFile = Array.from(gtMembers, (gi) => (s.gtCrowd[gi] || s.gtArea[gi]! < aRng[0] || s.gtArea[gi]! > aRng[1] ? 1 : 0));
    const order = Int32Array.from(gtIgFile.map((_, i) => i).sort((a, b) => gtIgFile[a]! - gtIgFile[b]! || a - b));
    const G = order.length;
    const gt = Array.from(order, (g) => gtMembers[g]!);
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
      Uint8Array.from(gt, (gi) => s.gtCrowd[gi]!),
      Float64Array.from(gt, (gi) => s.gtId[gi]!),
      Float64Array.from(dtOrder, (i) => s.dtId[i]!),
      dtm,
      gtm,
      dtIg,
    );
    for (let d = 0; d < D; d++) {
      const area = s.dtArea[dtOrder[d]!]!;
      if (area < aRng[0] || area > aRng[1]) for (let t = 0; t < T; t++) if (dtm[t * D + d] === 0) dtIg[t * D + d] = 1;
    }
    const rows = (a: ArrayLike<number>, n: number) => Array.from({ length: T }, (_, t) => Array.from(a).slice(t * n, (t + 1) * n));
    return {
      image_id: imgId,
      category_id: catId,
      aRng,
      maxDet,
      dtIds: Array.from(dtOrder, (i) => s.dtId[i]!),
      gtIds: gt.map((gi) => s.gtId[gi]!),
      dtMatches: rows(dtm, D),
      gtMatches: rows(gtm, G),
      dtScores: Array.from(dtOrder, (i) => s.dtScore[i]!),
      gtIgnore: Array.from(ig),
      dtIgnore: rows(dtIg, D),
    };
  }

  /** pycocotools' computeIoU for one image and category: rows = detections by score, columns = GT in file order. */
  computeIoU(imgId: number, catId: number): number[][] {
    const c = this.cellIndex(imgId, catId);
    if (c < 0) return [];
    const { dtOrder, gtMembers } = this.cell(c);
    const ious = this.requireEvaluated().ious.of(dtOrder, gtMembers);
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

  /** The 12 COCO numbers, and the text pycocotools prints (in `summaryText`). */
  summarize(): number[] {
    if (!this.eval) throw new Error('run accumulate() first');
    const { stats, text } = summarizeAccumulated(this.eval, this.params);
    this.stats = stats;
    this.summaryText = text;
    return this.stats;
  }

  /** Per-category AP (all IoUs), AP50, AP75 at area all and the largest maxDets; null where undefined. */
  perCategory(): { categoryId: number; ap: number | null; ap50: number | null; ap75: number | null }[] {
    if (!this.eval) throw new Error('run accumulate() first');
    const s = this.requireEvaluated();
    return perCategoryAp(this.eval, this.params, s.useCats ? s.catIds : null);
  }
}
