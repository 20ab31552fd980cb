import { describe, expect, it } from 'vitest';
import { linearSumAssignment } from '../../src/segmentation/hungarian.js';
import { Rng } from '../../src/engine/random.js';
import { get, torchRef, values } from '../helpers/fixtures.js';

function total(cost: ArrayLike<number>, nc: number, rows: number[], cols: number[]): number {
  return rows.reduce((s, r, k) => s + cost[r * nc + cols[k]!]!, 0);
}

/** Exhaustive minimum for small matrices. */
function bruteForce(cost: number[], nr: number, nc: number): number {
  let best = Infinity;
  const rec = (i: number, usedCols: Set<number>, usedRows: number, acc: number) => {
    if (usedRows === Math.min(nr, nc)) {
      best = Math.min(best, acc);
      return;
    }
    if (i >= nr) return;
    if (nr - i > Math.min(nr, nc) - usedRows) rec(i + 1, usedCols, usedRows, acc); // skip row i
    for (let j = 0; j < nc; j++) {
      if (usedCols.has(j)) continue;
      usedCols.add(j);
      rec(i + 1, usedCols, usedRows + 1, acc + cost[i * nc + j]!);
      usedCols.delete(j);
    }
  };
  rec(0, new Set(), 0, 0);
  return best;
}

describe('linearSumAssignment (scipy parity)', () => {
  const ref = torchRef('hungarian.safetensors');
  for (const name of ['sq5_random', 'sq6_int_ties', 'rect4x7_wide', 'rect10x3_tall', 'sq4_all_equal', 'rect8x5_int_ties_neg']) {
    it(`${name}: same total cost, one row per column, rows ascending`, () => {
      const c = get(ref, `${name}_cost`);
      const [nr, nc] = c.shape as [number, number];
      const cost = values(c);
      const r = linearSumAssignment(cost, nr, nc);
      const expRows = Array.from(values(get(ref, `${name}_row`)));
      const expCols = Array.from(values(get(ref, `${name}_col`)));
      expect(r.rows.length).toBe(Math.min(nr, nc));
      expect(new Set(r.cols).size).toBe(r.cols.length);
      expect([...r.rows].sort((a, b) => a - b)).toEqual(r.rows);
      expect(Math.abs(total(cost, nc, r.rows, r.cols) - total(cost, nc, expRows, expCols))).toBeLessThan(1e-5);
    });
  }

  it('is optimal on random rectangular matrices (exhaustive check)', () => {
    const rng = new Rng(2);
    for (let t = 0; t < 40; t++) {
      const nr = 1 + rng.int(5);
      const nc = 1 + rng.int(5);
      const cost = Array.from({ length: nr * nc }, () => Math.round(rng.range(-5, 5) * 4) / 4);
      const r = linearSumAssignment(cost, nr, nc);
      expect(total(cost, nc, r.rows, r.cols)).toBeCloseTo(bruteForce(cost, nr, nc), 9);
    }
  });
});
