/**
 * detectron2's Matcher: assign each prediction (column of an IoU matrix
 * [G, N]) to its best ground truth and label it by thresholds:
 * IoU < t0 → 0 (negative), t0 ≤ IoU < t1 → -1 (ignore), ≥ t1 → 1 (positive).
 * With low-quality matches, each GT's highest-IoU predictions (ties
 * included) become positive too.
 */
export interface MatchResult {
  /** For each prediction, the index of its best GT (0 when there is none). */
  matches: Int32Array;
  /** For each prediction: 1 positive, 0 negative, -1 ignored. */
  labels: Int8Array;
  /** For each prediction, its best IoU. */
  maxIou: Float32Array;
}

export function matchPredictions(iou: Float32Array, numGt: number, numPred: number, thresholds: readonly number[], labelValues: readonly number[], allowLowQuality: boolean): MatchResult {
  const matches = new Int32Array(numPred);
  const labels = new Int8Array(numPred);
  const maxIou = new Float32Array(numPred);
  if (numGt === 0) {
    // No GT: everything is background (detectron2 labels them with the first label value).
    labels.fill(labelValues[0]!);
    return { matches, labels, maxIou };
  }
  for (let j = 0; j < numPred; j++) {
    let best = -1;
    let bi = 0;
    for (let g = 0; g < numGt; g++) {
      const v = iou[g * numPred + j]!;
      if (v > best) {
        best = v;
        bi = g;
      }
    }
    matches[j] = bi;
    maxIou[j] = best;
    // Bins: [-inf, t0) → label0, [t0, t1) → label1, [t1, inf) → label2.
    let bin = 0;
    for (let t = 0; t < thresholds.length; t++) if (best >= thresholds[t]!) bin = t + 1;
    labels[j] = labelValues[bin]!;
  }
  if (allowLowQuality) {
    for (let g = 0; g < numGt; g++) {
      let best = -Infinity;
      for (let j = 0; j < numPred; j++) best = Math.max(best, iou[g * numPred + j]!);
      for (let j = 0; j < numPred; j++) if (iou[g * numPred + j] === best) labels[j] = 1;
    }
  }
  return { matches, labels, maxIou };
}
