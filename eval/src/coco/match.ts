/**
 * pycocotools' greedy matching for one (image, category, area range),
 * written over flat buffers so it can run 10^6 times without allocating.
 *
 * Inputs are in the order evaluateImg uses: GT sorted non-ignored first
 * (stable), detections by score. `ious` is [D][Gfull] with GT in file order;
 * `gtOrder[g]` maps sorted position g to its file-order column.
 * Outputs (zeroed by the caller): dtm [T][D] and gtm [T][G] hold the matched
 * partner's id (0 = unmatched); dtIg [T][D] the ignore flag of the matched GT.
 */
export function greedyMatch(
  iouThrs: readonly number[],
  ious: ArrayLike<number>,
  D: number,
  G: number,
  Gfull: number,
  gtOrder: ArrayLike<number>,
  gtIg: ArrayLike<number>,
  gtCrowd: ArrayLike<number>,
  gtIds: ArrayLike<number>,
  dtIds: ArrayLike<number>,
  dtm: Float64Array,
  gtm: Float64Array,
  dtIg: Uint8Array,
): void {
  if (D === 0 || G === 0) return;
  for (let t = 0; t < iouThrs.length; t++) {
    const thr = Math.min(iouThrs[t]!, 1 - 1e-10);
    const gtmRow = t * G;
    for (let d = 0; d < D; d++) {
      let best = thr;
      let m = -1;
      const row = d * Gfull;
      for (let g = 0; g < G; g++) {
        // A non-crowd GT matches once; crowd GT absorb any number of detections.
        if (gtm[gtmRow + g]! > 0 && !gtCrowd[g]) continue;
        // Once matched to a real GT, stop at the first ignored one.
        if (m > -1 && gtIg[m] === 0 && gtIg[g] === 1) break;
        const v = ious[row + gtOrder[g]!]!;
        if (v < best) continue;
        best = v;
        m = g;
      }
      if (m === -1) continue;
      dtIg[t * D + d] = gtIg[m]!;
      dtm[t * D + d] = gtIds[m]!;
      gtm[gtmRow + m] = dtIds[d]!;
    }
  }
}
