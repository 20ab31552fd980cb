/**
 * Annotations grouped by evaluation cell — an (image, category) pair, or an
 * image where categories are not used — in the order pycocotools groups
 * them, and a cell's detections ordered by score.
 */

/**
 * Annotations bucketed by cell with a counting sort: `idx[start[c] ..
 * start[c+1])` are the annotation indices of cell c.
 */
export interface Buckets {
  start: Int32Array;
  idx: Int32Array;
}

/**
 * Bucket annotations, given by their image and category ids, by cell
 * (image index * K + category index with `useCats`, else the image
 * index); annotations of other images or categories are left out. Within a cell: file order (useCats), or
 * category (in catIds order) then file order.
 */
export function bucketByCell(imageIds: Float64Array, categoryIds: Float64Array, imgIndex: Map<number, number>, catIndex: Map<number, number>, useCats: boolean, nCells: number): Buckets {
  const n = imageIds.length;
  const K = catIndex.size;
  const key = new Int32Array(n);
  const counts = new Int32Array(nCells + 1);
  let order: number[] | null = null;
  if (!useCats) {
    order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => catIndex.get(categoryIds[a]!)! - catIndex.get(categoryIds[b]!)! || a - b);
  }
  for (let j = 0; j < n; j++) {
    const ii = imgIndex.get(imageIds[j]!);
    const ci = catIndex.get(categoryIds[j]!);
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
  for (let q = 0; q < n; q++) {
    const j = order ? order[q]! : q;
    const c = key[j]!;
    if (c >= 0) idx[fill[c]!++] = j;
  }
  return { start, idx };
}

/**
 * Indices of `idx[lo..hi)` ordered by descending score, ties in input order
 * (numpy's stable mergesort), written to the start of `out` (which must hold hi - lo).
 */
export function sortByScoreInto(idx: Int32Array, lo: number, hi: number, score: Float64Array, out: Int32Array): void {
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
