import { describe, expect, it } from 'vitest';
import { rleArea, rleEncode, rleFrString, rleStringSummary, rleToBbox, rleToString, type Rle } from '../../eval/src/coco/rle.js';
import { Rng } from '../../src/engine/random.js';

/** Masks of every kind the summary must get right: blobs, empty, full, single pixels, columns, huge runs. */
function randomRles(rng: Rng, n: number): Rle[] {
  const out: Rle[] = [];
  for (let i = 0; i < n; i++) {
    const h = 1 + rng.int(40);
    const w = 1 + rng.int(40);
    const kind = i % 5;
    const m = new Uint8Array(h * w);
    if (kind === 1) m.fill(1);
    else if (kind === 2) m[rng.int(h * w)] = 1;
    else if (kind === 3) {
      const p = rng.uniform();
      for (let j = 0; j < m.length; j++) m[j] = rng.uniform() < p ? 1 : 0;
    } else if (kind === 4) {
      const x = rng.int(w);
      for (let y = rng.int(h); y < h; y++) m[x * h + y] = 1;
    }
    out.push(rleEncode(m, h, w));
  }
  // Counts past 2^30 take the float path of the decoder.
  out.push({ h: 1, w: 2065557, counts: Uint32Array.from([1000000, 3, 999999, 17, 65536, 1, 1]) });
  return out;
}

describe('rleStringSummary', () => {
  it('gives the total, area and box of rleFrString + rleArea + rleToBbox', () => {
    for (const r of randomRles(new Rng(3), 500)) {
      const s = rleToString(r);
      const parsed = rleFrString(s, r.h, r.w);
      const summary = rleStringSummary(s, r.h, r.w);
      expect(summary.total).toBe(parsed.counts.reduce((a, b) => a + b, 0));
      expect(summary.area).toBe(rleArea(parsed));
      expect(summary.bbox).toEqual(rleToBbox(parsed));
    }
  });

  it('rejects what rleFrString rejects', () => {
    expect(() => rleStringSummary('ab\u0001', 4, 4)).toThrow(/invalid character/);
    expect(() => rleStringSummary('0o', 4, 4)).toThrow(/ends inside a count/);
    // A character beyond latin1 whose low byte is a counts character.
    expect(() => rleStringSummary('0\u0130', 4, 4)).toThrow(/invalid character/);
  });
});
