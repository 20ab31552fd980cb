import { argsortDescending } from '../numeric/argsort.js';

/**
 * pycocotools' accumulate for one category: precision, recall and score
 * entries from the per-detection flags evaluate() left. The helper thread
 * (helper-worker.ts) runs it too.
 */

/** Per category: what accumulate() needs, flat over that category's detections in image order. */
export interface CategoryResult {
  /** Cells (image order) that had GT or detections: per cell, detection offset and count (≤ maxDets[-1]). */
  cellOffset: Int32Array;
  cellCount: Int32Array;
  scores: Float64Array;
  /** Per area range: [T][N] matched-and-true flags and ignore flags, and the non-ignored GT count. */
  tp: Uint8Array[];
  ig: Uint8Array[];
  npig: Float64Array;
}

/**
 * Zeroed arrays for one category's results, in one buffer — shared memory
 * when a helper thread will read them.
 */
export function emptyCategoryResult(cells: number, N: number, T: number, A: number, shared: boolean): CategoryResult {
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

/** The accumulated arrays, C order: precision [T][R][K][A][M], recall [T][K][A][M]. */
export interface Accumulated {
  counts: [number, number, number, number, number];
  precision: Float64Array;
  recall: Float64Array;
  scores: Float64Array;
}

/**
 * accumulate() for one category k: its precision, recall and scores entries
 * (C order [T][R][K][A][M] and [T][K][A][M]) from the per-detection flags
 * evaluate() left.
 */
export function accumulateCategory(
  res: CategoryResult,
  k: number,
  [T, R, K, A, M]: [number, number, number, number, number],
  recThrs: readonly number[],
  maxDets: readonly number[],
  precision: Float64Array,
  recall: Float64Array,
  scoresOut: Float64Array,
): void {
  const Ntot = res.scores.length;
  const pendingCopies: number[] = [];
  // One stable sort by descending score (ties keep image order) serves
  // every maxDet: the stable order of a subset is the subset of the order.
  const rank = new Int32Array(Ntot);
  for (let ci = 0; ci < res.cellOffset.length; ci++) {
    const o = res.cellOffset[ci]!;
    for (let d = 0; d < res.cellCount[ci]!; d++) rank[o + d] = d;
  }
  const all = argsortDescending(res.scores);
  let maxCellCount = 0;
  for (const n of res.cellCount) if (n > maxCellCount) maxCellCount = n;
  for (let m = 0; m < M; m++) {
    const maxDet = maxDets[m]!;
    if (m + 1 < M && maxDet >= maxCellCount) {
      // No cell is truncated at this maxDet: results equal the next larger one's.
      pendingCopies.push(m);
      continue;
    }
    // Detections kept at this maxDet: the first maxDet of each cell.
    let sel: Int32Array = all;
    if (maxDet < maxDets[M - 1]!) {
      sel = new Int32Array(Ntot);
      let q = 0;
      for (let i = 0; i < Ntot; i++) if (rank[all[i]!]! < maxDet) sel[q++] = all[i]!;
      sel = sel.subarray(0, q);
    }
    const N = sel.length;
    const tpPos = new Int32Array(N + 1);
    const prAtTp = new Float64Array(N + 1);
    for (let a = 0; a < A; a++) {
      const npig = res.npig[a]!;
      if (npig === 0) continue;
      const tpA = res.tp[a]!;
      const igA = res.ig[a]!;
      for (let t = 0; t < T; t++) {
        const base = t * Ntot;
        // Precision only rises at true positives, and recall only changes
        // there: so the interpolated precision at a recall threshold is the
        // running max (from the right) of precision over true positives.
        let tp = 0;
        let fp = 0;
        for (let i = 0; i < N; i++) {
          const j = base + sel[i]!;
          if (igA[j]) continue;
          if (tpA[j]) {
            tp++;
            tpPos[tp] = i;
            prAtTp[tp] = tp / (fp + tp + 2.220446049250313e-16); // + np.spacing(1)
          } else fp++;
        }
        recall[((t * K + k) * A + a) * M + m] = N > 0 ? tp / npig : 0;
        for (let v = tp - 1; v >= 1; v--) if (prAtTp[v + 1]! > prAtTp[v]!) prAtTp[v] = prAtTp[v + 1]!;
        // q[r] = pr[searchsorted_left(rc, recThrs[r])]; past the end the rest stay 0.
        let v = 1;
        for (let ri = 0; ri < R; ri++) {
          const thr = recThrs[ri]!;
          const j = (((t * R + ri) * K + k) * A + a) * M + m;
          if (N === 0) {
            precision[j] = 0;
            scoresOut[j] = 0;
            continue;
          }
          if (!(0 < thr)) {
            // rc[0] >= thr: index 0, whose envelope is the max over everything.
            precision[j] = tp > 0 ? prAtTp[1]! : 0;
            scoresOut[j] = res.scores[sel[0]!]!;
            continue;
          }
          while (v <= tp && v / npig < thr) v++;
          if (v > tp) {
            for (let rj = ri; rj < R; rj++) {
              const jj = (((t * R + rj) * K + k) * A + a) * M + m;
              precision[jj] = 0;
              scoresOut[jj] = 0;
            }
            break;
          }
          precision[j] = prAtTp[v]!;
          scoresOut[j] = res.scores[sel[tpPos[v]!]!]!;
        }
      }
    }
  }
  // Fill the maxDets that needed no truncation from the largest one (largest first).
  for (const m of pendingCopies.reverse()) {
    for (let t = 0; t < T; t++)
      for (let a = 0; a < A; a++) {
        recall[((t * K + k) * A + a) * M + m] = recall[((t * K + k) * A + a) * M + m + 1]!;
        for (let r = 0; r < R; r++) {
          const j = (((t * R + r) * K + k) * A + a) * M + m;
          precision[j] = precision[j + 1]!;
          scoresOut[j] = scoresOut[j + 1]!;
        }
      }
  }
}
