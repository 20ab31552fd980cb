import { describe, expect, it } from 'vitest';
import { rleDecode, rleEncode, rleIntersection, rleIou, type Rle } from '../../eval/src/coco/rle.js';
import { Rng } from '../../src/engine/random.js';

function randomMask(rng: Rng, h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  const kind = rng.int(4);
  const p = rng.uniform();
  for (let j = 0; j < m.length; j++) m[j] = kind === 0 ? 0 : kind === 1 ? 1 : rng.uniform() < p ? 1 : 0;
  return m;
}

/** Two random masks of one random size, and their pixel counts by brute force. */
function maskPair(rng: Rng, maxSide: number) {
  const h = 1 + rng.int(maxSide);
  const w = 1 + rng.int(maxSide);
  const a = randomMask(rng, h, w);
  const b = randomMask(rng, h, w);
  let inter = 0;
  let union = 0;
  let areaA = 0;
  for (let j = 0; j < a.length; j++) {
    inter += a[j]! & b[j]!;
    union += a[j]! | b[j]!;
    areaA += a[j]!;
  }
  return { h, w, a, b, inter, union, areaA };
}

describe('rleIntersection', () => {
  it('counts the shared foreground pixels of decoded masks (empty, full, random, zero-length runs)', () => {
    const rng = new Rng(5);
    for (let n = 0; n < 500; n++) {
      const { h, w, a, b, inter: expected } = maskPair(rng, 20);
      const ra = rleEncode(a, h, w);
      // A run list with explicit zero-length runs inside covers the same pixels.
      const padded = Uint32Array.from([...ra.counts.slice(0, 1), 0, 0, ...ra.counts.slice(1)]);
      expect(rleIntersection(ra.counts, rleEncode(b, h, w).counts), `case ${n}`).toBe(expected);
      expect(rleIntersection(padded, rleEncode(b, h, w).counts), `padded case ${n}`).toBe(expected);
      expect(Array.from(rleDecode({ h, w, counts: padded }))).toEqual(Array.from(a));
    }
  });

  it('gives IoU = |A∩B| / |A∪B|, and the detection area as union for crowd GT', () => {
    const rng = new Rng(9);
    for (let n = 0; n < 200; n++) {
      const { h, w, a, b, inter, union: uni, areaA } = maskPair(rng, 16);
      const dt: Rle[] = [rleEncode(a, h, w)];
      const gt: Rle[] = [rleEncode(b, h, w)];
      const [plain] = rleIou(dt, gt, [0]);
      const [crowd] = rleIou(dt, gt, [1]);
      // Masks whose boxes do not overlap are 0 without comparing runs.
      expect(plain, `case ${n}`).toBe(inter === 0 ? 0 : inter / uni);
      expect(crowd, `crowd case ${n}`).toBe(inter === 0 ? 0 : inter / areaA);
    }
  });

  it('ends on runs of different totals (pycocotools would loop forever)', () => {
    expect(rleIntersection(Uint32Array.from([1, 2]), Uint32Array.from([0, 5, 3, 9]))).toBe(2);
  });
});
