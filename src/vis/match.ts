/**
 * Greedy matching of detections to ground truth for display: by descending
 * score, each detection takes the unmatched GT of its category with the
 * highest IoU ≥ threshold. Unmatched detections are false positives;
 * unmatched GT are misses.
 */
export interface Box {
  bbox: [number, number, number, number];
  category_id: number;
  score?: number;
}

export function boxIou(a: [number, number, number, number], b: [number, number, number, number]): number {
  const iw = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

export function matchForDisplay(dets: Box[], gts: Box[], threshold = 0.5): { dtMatched: boolean[]; gtMatched: boolean[] } {
  const order = dets.map((_, i) => i).sort((a, b) => (dets[b]!.score ?? 0) - (dets[a]!.score ?? 0));
  const dtMatched = new Array<boolean>(dets.length).fill(false);
  const gtMatched = new Array<boolean>(gts.length).fill(false);
  for (const d of order) {
    let best = -1;
    let bestIou = threshold;
    gts.forEach((g, j) => {
      if (gtMatched[j] || g.category_id !== dets[d]!.category_id) return;
      const v = boxIou(dets[d]!.bbox, g.bbox);
      if (v >= bestIou) {
        bestIou = v;
        best = j;
      }
    });
    if (best >= 0) {
      dtMatched[d] = true;
      gtMatched[best] = true;
    }
  }
  return { dtMatched, gtMatched };
}
