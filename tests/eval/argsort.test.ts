import { describe, expect, it } from 'vitest';
import { argsortDescending } from '../../eval/src/numeric/argsort.js';
import { Rng } from '../../src/engine/random.js';

/** The reference: a stable comparator sort by descending value. */
function reference(v: Float64Array): number[] {
  return Array.from(v.keys()).sort((a, b) => v[b]! - v[a]! || a - b);
}

describe('argsortDescending', () => {
  it('equals a stable comparator sort: ties, ±0, negatives, huge and tiny magnitudes', () => {
    const rng = new Rng(21);
    for (let n = 0; n < 60; n++) {
      const len = rng.int(3000);
      const pool = [0, -0, 1, -1, 0.5, 1e-300, -1e-300, 5e-324, 1e300, -1e300, Infinity, -Infinity, 0.1 + 0.2, 0.3];
      const v = new Float64Array(len);
      for (let i = 0; i < len; i++) {
        const r = rng.uniform();
        v[i] = r < 0.3 ? pool[rng.int(pool.length)]! : r < 0.6 ? Math.round(rng.uniform() * 1000) / 1000 : (rng.uniform() - 0.3) * 10 ** (rng.int(20) - 10);
      }
      expect(Array.from(argsortDescending(v)), `case ${n}`).toEqual(reference(v));
    }
  });

  it('orders scores with NaN as the comparator sort does', () => {
    const v = Float64Array.from({ length: 100 }, (_, i) => (i % 7 === 0 ? NaN : (i * 37) % 11));
    expect(Array.from(argsortDescending(v))).toEqual(reference(v));
  });
});
