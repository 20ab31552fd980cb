/**
 * Minimum-cost assignment on a rectangular cost matrix (scipy's
 * linear_sum_assignment): every row of the smaller side is assigned. The
 * shortest-augmenting-path Hungarian algorithm with potentials, O(n²m),
 * exact in float64. Returns (rows ascending, matching columns).
 */
export function linearSumAssignment(cost: ArrayLike<number>, nRows: number, nCols: number): { rows: number[]; cols: number[] } {
  if (nRows === 0 || nCols === 0) return { rows: [], cols: [] };
  const transposed = nRows > nCols;
  const n = transposed ? nCols : nRows; // the side that is fully assigned
  const m = transposed ? nRows : nCols;
  const c = (i: number, j: number) => (transposed ? cost[j * nCols + i]! : cost[i * nCols + j]!);
  for (let k = 0; k < cost.length; k++) if (!Number.isFinite(cost[k]!)) throw new Error('linearSumAssignment: cost matrix has non-finite entries');
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) assigned to column j, 0 = free
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = c(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) if (p[j]) pairs.push(transposed ? [j - 1, p[j]! - 1] : [p[j]! - 1, j - 1]);
  pairs.sort((a, b) => a[0] - b[0]);
  return { rows: pairs.map((q) => q[0]), cols: pairs.map((q) => q[1]) };
}
