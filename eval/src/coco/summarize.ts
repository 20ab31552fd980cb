import { formatFixed, npMean } from '../numeric/numpy.js';
import type { Accumulated } from './accumulate-category.js';
import type { Params } from './params.js';

/**
 * What is read off the accumulated precision / recall arrays: pycocotools'
 * summarize (the 12 COCO numbers and the text it prints) and per-category AP.
 */

/** Mean of the valid (> -1) entries of one summary slice; -1 when none (pycocotools' _summarize). */
function summarizeOne(acc: Accumulated, p: Params, ap: boolean, iouThr: number | undefined, areaLbl: string, maxDets: number): number {
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

/** The 12 COCO numbers, and the text pycocotools prints. */
export function summarizeAccumulated(acc: Accumulated, p: Params): { stats: number[]; text: string } {
  const lines: string[] = [];
  const one = (ap: boolean, iouThr?: number, areaRng = 'all', maxDets = 100): number => {
    const v = summarizeOne(acc, p, ap, iouThr, areaRng, maxDets);
    const title = ap ? 'Average Precision' : 'Average Recall';
    const type = ap ? '(AP)' : '(AR)';
    const iouStr = iouThr === undefined ? `${formatFixed(p.iouThrs[0]!, 2)}:${formatFixed(p.iouThrs[p.iouThrs.length - 1]!, 2)}` : formatFixed(iouThr, 2);
    lines.push(` ${title.padEnd(18)} ${type} @[ IoU=${iouStr.padEnd(9)} | area=${areaRng.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${formatFixed(v, 3)}`);
    return v;
  };
  const md = p.maxDets;
  const stats = [
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
  return { stats, text: `${lines.join('\n')}\n` };
}

/**
 * Per category k: AP (all IoUs), AP50, AP75 at area all and the largest
 * maxDets; null where undefined. `catIds` names the categories (null
 * without useCats: then -1).
 */
export function perCategoryAp(acc: Accumulated, p: Params, catIds: readonly number[] | null): { categoryId: number; ap: number | null; ap50: number | null; ap75: number | null }[] {
  const [T, R, K, A, M] = acc.counts;
  const aind = p.areaRngLbl.indexOf('all');
  const mind = M - 1;
  const mean = (k: number, ts: number[]): number | null => {
    const vals: number[] = [];
    for (const t of ts)
      for (let r = 0; r < R; r++) {
        const v = acc.precision[(((t * R + r) * K + k) * A + aind) * M + mind]!;
        if (v > -1) vals.push(v);
      }
    return vals.length ? npMean(vals) : null;
  };
  const tIdx = (thr: number) => p.iouThrs.flatMap((v, i) => (v === thr ? [i] : []));
  return Array.from({ length: K }, (_, k) => ({
    categoryId: catIds ? catIds[k]! : -1,
    ap: mean(k, [...Array(T).keys()]),
    ap50: mean(k, tIdx(0.5)),
    ap75: mean(k, tIdx(0.75)),
  }));
}
