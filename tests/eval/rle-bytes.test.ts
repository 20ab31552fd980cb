import { describe, expect, it } from 'vitest';
import { rleArea, rleEncode, rleFrString, rleToBbox, rleToString, type Rle } from '../../eval/src/coco/rle.js';
import { BytesRle, CountsArena, Summary, decodeCountsBytes, summarizeCountsBytes } from '../../eval/src/coco/rle-bytes.js';
import { Rng } from '../../src/engine/random.js';

/** A counts string as it lies in a JSON file: the bytes between its quotes (backslashes escaped). */
function jsonBytes(s: string): { bytes: Uint8Array; start: number; end: number } {
  const text = `{"counts":${JSON.stringify(s)}}`;
  const bytes = new TextEncoder().encode(text);
  return { bytes, start: text.indexOf('"', 9) + 1, end: text.length - 2 };
}

function randomRles(rng: Rng, n: number): Rle[] {
  const out: Rle[] = [];
  for (let i = 0; i < n; i++) {
    const h = 1 + rng.int(50);
    const w = 1 + rng.int(50);
    const m = new Uint8Array(h * w);
    const kind = i % 4;
    if (kind === 1) m.fill(1);
    else if (kind === 2) {
      const p = rng.uniform();
      for (let j = 0; j < m.length; j++) m[j] = rng.uniform() < p ? 1 : 0;
    } else if (kind === 3) {
      // A blob: smooth columns give small deltas (one-character counts).
      const cx = rng.int(w);
      const cy = rng.int(h);
      const r = 1 + rng.int(20);
      for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) m[x * h + y] = (x - cx) ** 2 + (y - cy) ** 2 < r * r ? 1 : 0;
    }
    out.push(rleEncode(m, h, w));
  }
  // Counts past 2^30 take the float path of the decoders.
  out.push({ h: 1, w: 2065557, counts: Uint32Array.from([1000000, 3, 999999, 17, 65536, 1, 1]) });
  return out;
}

describe('counts read from JSON bytes', () => {
  const rles = randomRles(new Rng(17), 400);
  const strings = rles.map(rleToString);

  it('some strings hold backslashes, which JSON escapes', () => {
    expect(strings.filter((s) => s.includes('\\')).length).toBeGreaterThan(20);
  });

  it('decode to the counts rleFrString gives', () => {
    rles.forEach((r, i) => {
      const { bytes, start, end } = jsonBytes(strings[i]!);
      const out = new Uint32Array(end - start + 3);
      const m = decodeCountsBytes(bytes, start, end, out, 3);
      expect(Array.from(out.subarray(3, 3 + m)), `case ${i}`).toEqual(Array.from(rleFrString(strings[i]!, r.h, r.w).counts));
      expect(Array.from(new BytesRle(bytes, start, end, r.h, r.w).toRle().counts)).toEqual(Array.from(r.counts));
    });
  });

  it('summarise to what rleFrString + rleArea + rleToBbox give: total, area and box', () => {
    const out = new Float64Array(Summary.Length);
    rles.forEach((r, i) => {
      const { bytes, start, end } = jsonBytes(strings[i]!);
      expect(summarizeCountsBytes(bytes, start, end, r.h, r.w, out)).toBe(true);
      const parsed = rleFrString(strings[i]!, r.h, r.w);
      const total = parsed.counts.reduce((a, b) => a + b, 0);
      expect(Array.from(out), `case ${i}`).toEqual([total, rleArea(parsed), ...rleToBbox(parsed)]);
    });
  });

  it('a BytesRle reads as the {size, counts} object JSON.parse gives', () => {
    const s = strings.find((x) => x.includes('\\'))!;
    const { bytes, start, end } = jsonBytes(s);
    const rle = new BytesRle(bytes, start, end, 7, 9);
    expect(rle.counts).toBe(s);
    expect(rle.size).toEqual([7, 9]);
    expect(JSON.parse(JSON.stringify(rle))).toEqual({ size: [7, 9], counts: s });
  });

  it('an arena hands out views that stay valid as it grows', () => {
    const arena = new CountsArena();
    const views = rles.slice(0, 200).map((r, i) => {
      const { bytes, start, end } = jsonBytes(strings[i]!);
      return arena.decode(new BytesRle(bytes, start, end, r.h, r.w));
    });
    views.forEach((v, i) => expect(Array.from(v.counts)).toEqual(Array.from(rles[i]!.counts)));
  });

  it('reject what rleFrString rejects: bad characters, a lone backslash, a cut-off count', () => {
    const out = new Float64Array(Summary.Length);
    const bad = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      return summarizeCountsBytes(bytes, 0, bytes.length, 4, 4, out);
    };
    expect(bad('ab\u0001')).toBe(false);
    expect(bad('0o')).toBe(false);
    expect(bad('0\\')).toBe(false); // a backslash not escaped as two
    expect(bad('0\\"')).toBe(false);
    expect(bad('0p')).toBe(false);
    expect(bad('04')).toBe(true);
  });
});
