import { EvalInputError } from '../errors.js';
import { formatFixed, npMean } from '../numeric/numpy.js';
import type { Coco } from './coco.js';
import { Params, type IouType } from './params.js';
import { bbIou, rleIou, type Rle } from './rle.js';
import type { CocoAnnotation } from './types.js';

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

/** What evaluate() keeps per (category, area, image) for accumulate(). */
interface Entry {
  /** Detection scores, sorted descending, truncated to maxDets[-1]. */
  scores: Float64Array;
  /** [T * D]: matched (to a GT whose id is not 0). */
  tp: Uint8Array;
  /** [T * D]: ignored. */
  ig: Uint8Array;
  /** Non-ignored GT count. */
  npig: number;
}

/** Detections and GT of one (image, category) cell, with the IoU matrix. */
interface Cell {
  gt: CocoAnnotation[];
  /** Sorted by score (stable), truncated to maxDets[-1]. */
  dt: CocoAnnotation[];
  /** [D * G], row d, column g (GT in file order). */
  ious: Float64Array;
}

const EPS = 2.220446049250313e-16; // np.spacing(1)

function stableOrderByScoreDesc(items: readonly CocoAnnotation[]): CocoAnnotation[] {
  const idx = items.map((_, i) => i);
  idx.sort((a, b) => items[b]!.score! - items[a]!.score! || a - b);
  return idx.map((i) => items[i]!);
}

function uniqueSorted(v: readonly number[]): number[] {
  return [...new Set(v)].sort((a, b) => a - b);
}

/**
 * COCO detection evaluation, numerically identical to pycocotools'
 * COCOeval for iouType bbox and segm (same quirks; see the README of the
 * fixtures). Usage mirrors pycocotools: evaluate(), accumulate(), summarize().
 */
export class CocoEval {
  readonly params: Params;
  stats: number[] = [];
  summaryText = '';
  eval?: Accumulated;
  private cells = new Map<number, Cell>();
  private entries: (Entry | null)[] = [];
  private evaluated?: { imgIds: number[]; catIds: number[]; areaRng: [number, number][]; maxDets: number[]; useCats: boolean };

  constructor(
    readonly cocoGt: Coco,
    readonly cocoDt: Coco,
    iouType: IouType = 'segm',
  ) {
    this.params = new Params(iouType);
    this.params.imgIds = uniqueSorted(cocoGt.getImgIds());
    this.params.catIds = uniqueSorted(cocoGt.getCatIds());
  }

  private cellKey(imgIdx: number, catIdx: number, nCats: number): number {
    return imgIdx * nCats + catIdx;
  }

  /** Group GT and detections by (image, category) and compute IoUs. */
  private prepare(imgIds: number[], catIds: number[], useCats: boolean, maxDet: number): void {
    const p = this.params;
    const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
    const catIndex = new Map(catIds.map((id, i) => [id, i]));
    const nCats = useCats ? catIds.length : 1;
    const gts = useCats ? this.cocoGt.getAnns({ imgIds, catIds }) : this.cocoGt.getAnns({ imgIds });
    const dts = useCats ? this.cocoDt.getAnns({ imgIds, catIds }) : this.cocoDt.getAnns({ imgIds });
    // Group per (image, category); without useCats, a cell concatenates the
    // categories in catIds order (as pycocotools does).
    const byPair = (anns: CocoAnnotation[]): Map<number, CocoAnnotation[]> => {
      const m = new Map<number, CocoAnnotation[]>();
      for (const a of anns) {
        const ii = imgIndex.get(a.image_id);
        const ci = catIndex.get(a.category_id);
        if (ii === undefined || ci === undefined) continue;
        const key = ii * catIds.length + ci;
        let l = m.get(key);
        if (!l) m.set(key, (l = []));
        l.push(a);
      }
      return m;
    };
    const gtPairs = byPair(gts);
    const dtPairs = byPair(dts);
    this.cells = new Map();
    const keys = new Set<number>();
    for (const k of gtPairs.keys()) keys.add(useCats ? k : Math.floor(k / catIds.length) * catIds.length);
    for (const k of dtPairs.keys()) keys.add(useCats ? k : Math.floor(k / catIds.length) * catIds.length);
    for (const pairKey of keys) {
      const ii = Math.floor(pairKey / catIds.length);
      let gt: CocoAnnotation[];
      let dtAll: CocoAnnotation[];
      if (useCats) {
        gt = gtPairs.get(pairKey) ?? [];
        dtAll = dtPairs.get(pairKey) ?? [];
      } else {
        gt = [];
        dtAll = [];
        for (let ci = 0; ci < catIds.length; ci++) {
          gt.push(...(gtPairs.get(ii * catIds.length + ci) ?? []));
          dtAll.push(...(dtPairs.get(ii * catIds.length + ci) ?? []));
        }
      }
      if (gt.length === 0 && dtAll.length === 0) continue;
      const dt = stableOrderByScoreDesc(dtAll).slice(0, maxDet);
      const ious = this.computeIouMatrix(dt, gt, p.iouType);
      this.cells.set(this.cellKey(ii, useCats ? pairKey % catIds.length : 0, nCats), { gt, dt, ious });
    }
  }

  private computeIouMatrix(dt: CocoAnnotation[], gt: CocoAnnotation[], iouType: IouType): Float64Array {
    const D = dt.length;
    const G = gt.length;
    if (D === 0 || G === 0) return new Float64Array(0);
    const iscrowd = Uint8Array.from(gt, (g) => (g.iscrowd ? 1 : 0));
    if (iouType === 'bbox') {
      const db = new Float64Array(D * 4);
      const gb = new Float64Array(G * 4);
      dt.forEach((d, i) => db.set(d.bbox, i * 4));
      gt.forEach((g, i) => {
        if (!g.bbox) throw new EvalInputError(`annotation ${g.id} has no bbox`, this.cocoGt.source);
        gb.set(g.bbox, i * 4);
      });
      return bbIou(db, gb, D, G, iscrowd);
    }
    const dr: Rle[] = dt.map((d) => this.cocoDt.annToRle(d));
    const gr: Rle[] = gt.map((g) => this.cocoGt.annToRle(g));
    return rleIou(dr, gr, iscrowd);
  }

  /**
   * Greedy matching of one cell for one area range (pycocotools'
   * evaluateImg): GT sorted non-ignored first; for each IoU threshold the
   * detections in score order take the best remaining GT.
   */
  private matchCell(cell: Cell, aRng: [number, number], maxDet: number) {
    const T = this.params.iouThrs.length;
    const gtIgOrig = cell.gt.map((g) => (g.iscrowd || g.area < aRng[0] || g.area > aRng[1] ? 1 : 0));
    const order = gtIgOrig.map((_, i) => i).sort((a, b) => gtIgOrig[a]! - gtIgOrig[b]! || a - b);
    const gt = order.map((i) => cell.gt[i]!);
    const gtIg = Uint8Array.from(order, (i) => gtIgOrig[i]!);
    const crowd = Uint8Array.from(gt, (g) => (g.iscrowd ? 1 : 0));
    const D = Math.min(cell.dt.length, maxDet);
    const G = gt.length;
    const Gfull = cell.gt.length;
    const dtm = new Float64Array(T * D);
    const gtm = new Float64Array(T * G);
    const dtIg = new Uint8Array(T * D);
    if (cell.ious.length > 0) {
      for (let t = 0; t < T; t++) {
        const thr = this.params.iouThrs[t]!;
        for (let d = 0; d < D; d++) {
          let iou = Math.min(thr, 1 - 1e-10);
          let m = -1;
          const row = d * Gfull;
          for (let g = 0; g < G; g++) {
            if (gtm[t * G + g]! > 0 && !crowd[g]) continue;
            if (m > -1 && gtIg[m] === 0 && gtIg[g] === 1) break;
            const v = cell.ious[row + order[g]!]!;
            if (v < iou) continue;
            iou = v;
            m = g;
          }
          if (m === -1) continue;
          dtIg[t * D + d] = gtIg[m]!;
          dtm[t * D + d] = gt[m]!.id;
          gtm[t * G + m] = cell.dt[d]!.id;
        }
      }
    }
    for (let d = 0; d < D; d++) {
      const a = cell.dt[d]!.area;
      if (a < aRng[0] || a > aRng[1]) for (let t = 0; t < T; t++) if (dtm[t * D + d] === 0) dtIg[t * D + d] = 1;
    }
    return { gt, gtIg, D, G, dtm, gtm, dtIg };
  }

  /** Run per-image evaluation for every (category, area range, image). */
  evaluate(): void {
    const p = this.params;
    const imgIds = uniqueSorted(p.imgIds);
    const catIds = p.useCats ? uniqueSorted(p.catIds) : p.catIds;
    const maxDets = [...p.maxDets].sort((a, b) => a - b);
    p.imgIds = imgIds;
    p.catIds = catIds;
    p.maxDets = maxDets;
    const maxDet = maxDets[maxDets.length - 1]!;
    this.prepare(imgIds, catIds, p.useCats, maxDet);
    const K = p.useCats ? catIds.length : 1;
    const A = p.areaRng.length;
    const I = imgIds.length;
    const T = p.iouThrs.length;
    this.entries = new Array<Entry | null>(K * A * I).fill(null);
    for (const [key, cell] of this.cells) {
      const ii = Math.floor(key / K);
      const k = key % K;
      const scores = Float64Array.from(cell.dt.slice(0, maxDet), (d) => d.score!);
      for (let a = 0; a < A; a++) {
        const r = this.matchCell(cell, p.areaRng[a]!, maxDet);
        const tp = new Uint8Array(T * r.D);
        for (let i = 0; i < tp.length; i++) tp[i] = r.dtm[i] !== 0 ? 1 : 0;
        let npig = 0;
        for (let g = 0; g < r.G; g++) if (r.gtIg[g] === 0) npig++;
        this.entries[(k * A + a) * I + ii] = { scores, tp, ig: r.dtIg, npig };
      }
    }
    this.evaluated = { imgIds, catIds, areaRng: p.areaRng.map((r) => [r[0], r[1]]), maxDets, useCats: p.useCats };
  }

  /** pycocotools' evaluateImg for one image and category (after evaluate()). */
  evaluateImg(imgId: number, catId: number, aRng: [number, number], maxDet: number): EvalImg | null {
    const ev = this.requireEvaluated();
    const ii = ev.imgIds.indexOf(imgId);
    const ci = ev.useCats ? ev.catIds.indexOf(catId) : 0;
    if (ii < 0 || ci < 0) return null;
    const cell = this.cells.get(this.cellKey(ii, ci, ev.useCats ? ev.catIds.length : 1));
    if (!cell) return null;
    const T = this.params.iouThrs.length;
    const r = this.matchCell(cell, aRng, maxDet);
    const rows = (a: ArrayLike<number>, n: number) => Array.from({ length: T }, (_, t) => Array.from(a).slice(t * n, (t + 1) * n));
    return {
      image_id: imgId,
      category_id: catId,
      aRng,
      maxDet,
      dtIds: cell.dt.slice(0, r.D).map((d) => d.id),
      gtIds: r.gt.map((g) => g.id),
      dtMatches: rows(r.dtm, r.D),
      gtMatches: rows(r.gtm, r.G),
      dtScores: cell.dt.slice(0, r.D).map((d) => d.score!),
      gtIgnore: Array.from(r.gtIg),
      dtIgnore: rows(r.dtIg, r.D),
    };
  }

  /** pycocotools' computeIoU for one image and category: rows = detections by score, columns = GT in file order. */
  computeIoU(imgId: number, catId: number): number[][] {
    const ev = this.requireEvaluated();
    const ii = ev.imgIds.indexOf(imgId);
    const ci = ev.useCats ? ev.catIds.indexOf(catId) : 0;
    const cell = this.cells.get(this.cellKey(ii, ci, ev.useCats ? ev.catIds.length : 1));
    if (!cell || cell.ious.length === 0) return [];
    const G = cell.gt.length;
    return cell.dt.map((_, d) => Array.from(cell.ious.subarray(d * G, (d + 1) * G)));
  }

  private requireEvaluated() {
    if (!this.evaluated) throw new Error('run evaluate() first');
    return this.evaluated;
  }

  /** Accumulate per-image results into precision / recall arrays (pycocotools' accumulate). */
  accumulate(): Accumulated {
    const ev = this.requireEvaluated();
    const p = this.params;
    const T = p.iouThrs.length;
    const R = p.recThrs.length;
    const K = ev.useCats ? ev.catIds.length : 1;
    const A = ev.areaRng.length;
    const M = ev.maxDets.length;
    const I = ev.imgIds.length;
    const precision = new Float64Array(T * R * K * A * M).fill(-1);
    const recall = new Float64Array(T * K * A * M).fill(-1);
    const scoresOut = new Float64Array(T * R * K * A * M).fill(-1);
    const recThrs = p.recThrs;
    for (let k = 0; k < K; k++) {
      for (let m = 0; m < M; m++) {
        const maxDet = ev.maxDets[m]!;
        // Scores and their merged order do not depend on the area range.
        const first = (a: number) => {
          const list: Entry[] = [];
          for (let i = 0; i < I; i++) {
            const e = this.entries[(k * A + a) * I + i];
            if (e) list.push(e);
          }
          return list;
        };
        const E0 = first(0);
        if (E0.length === 0) continue;
        let N = 0;
        for (const e of E0) N += Math.min(e.scores.length, maxDet);
        const allScores = new Float64Array(N);
        let off = 0;
        for (const e of E0) {
          const n = Math.min(e.scores.length, maxDet);
          allScores.set(e.scores.subarray(0, n), off);
          off += n;
        }
        const order = Array.from({ length: N }, (_, i) => i);
        order.sort((x, y) => allScores[y]! - allScores[x]! || x - y);
        const sortedScores = Float64Array.from(order, (i) => allScores[i]!);
        const tpFlags = new Uint8Array(N);
        const igFlags = new Uint8Array(N);
        const rc = new Float64Array(N);
        const pr = new Float64Array(N);
        for (let a = 0; a < A; a++) {
          const E = a === 0 ? E0 : first(a);
          let npig = 0;
          for (const e of E) npig += e.npig;
          if (npig === 0) continue;
          for (let t = 0; t < T; t++) {
            // Concatenate this threshold's flags in image order, then permute.
            const catTp = new Uint8Array(N);
            const catIg = new Uint8Array(N);
            let o = 0;
            for (const e of E) {
              const D = e.scores.length;
              const n = Math.min(D, maxDet);
              catTp.set(e.tp.subarray(t * D, t * D + n), o);
              catIg.set(e.ig.subarray(t * D, t * D + n), o);
              o += n;
            }
            for (let i = 0; i < N; i++) {
              tpFlags[i] = catTp[order[i]!]!;
              igFlags[i] = catIg[order[i]!]!;
            }
            let tp = 0;
            let fp = 0;
            for (let i = 0; i < N; i++) {
              if (!igFlags[i]) {
                if (tpFlags[i]) tp++;
                else fp++;
              }
              rc[i] = tp / npig;
              pr[i] = tp / (fp + tp + EPS);
            }
            const rIdx = ((t * K + k) * A + a) * M + m;
            recall[rIdx] = N > 0 ? rc[N - 1]! : 0;
            for (let i = N - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
            // q[r] = pr[searchsorted_left(rc, recThrs[r])]; past the end the rest stay 0.
            let pi = 0;
            for (let ri = 0; ri < R; ri++) {
              const thr = recThrs[ri]!;
              while (pi < N && rc[pi]! < thr) pi++;
              const pIdx = (((t * R + ri) * K + k) * A + a) * M + m;
              if (pi >= N) {
                for (let rj = ri; rj < R; rj++) {
                  const j = (((t * R + rj) * K + k) * A + a) * M + m;
                  precision[j] = 0;
                  scoresOut[j] = 0;
                }
                break;
              }
              precision[pIdx] = pr[pi]!;
              scoresOut[pIdx] = sortedScores[pi]!;
            }
          }
        }
      }
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

  /** Per-category AP (all IoUs), AP50, AP75 at area all / maxDets 100; null where undefined (-1). */
  perCategory(): { categoryId: number; ap: number | null; ap50: number | null; ap75: number | null }[] {
    if (!this.eval) throw new Error('run accumulate() first');
    const ev = this.requireEvaluated();
    const p = this.params;
    const [T, R, K, A, M] = this.eval.counts;
    const aind = p.areaRngLbl.indexOf('all');
    const mind = p.maxDets.indexOf(100) >= 0 ? p.maxDets.indexOf(100) : M - 1;
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
      categoryId: ev.useCats ? ev.catIds[k]! : -1,
      ap: mean(k, [...Array(T).keys()]),
      ap50: mean(k, tIdx(0.5)),
      ap75: mean(k, tIdx(0.75)),
    }));
  }
}
