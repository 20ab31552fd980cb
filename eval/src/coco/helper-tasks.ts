import { rasterScratch, rasterizePolygon } from './polygon-raster.js';
import { Summary, summarizeCountsBytes } from './rle-bytes.js';

/**
 * The pieces of work that this thread and the helper thread both run, a
 * chunk at a time (see helper-thread.ts).
 */

/**
 * Summarise masks [from, to) whose spans are in `spans` (SPAN numbers
 * each): out[6i..6i+6) as `Summary`, ok[i] = 1 where well-formed.
 */
export function summarizeRange(bytes: Uint8Array, spans: Float64Array, out: Float64Array, ok: Uint8Array, from: number, to: number): void {
  const one = new Float64Array(Summary.Length);
  for (let i = from; i < to; i++) {
    const good = summarizeCountsBytes(bytes, spans[4 * i + 2]!, spans[4 * i + 3]!, spans[4 * i]!, spans[4 * i + 1]!, one);
    ok[i] = good ? 1 : 0;
    if (!good) one.fill(0);
    out.set(one, Summary.Length * i);
  }
}

/** Polygons to rasterise: part i has coordinates coords[start[i]..start[i+1]) in an image of size[2i] x size[2i+1]. */
export interface PolygonSet {
  coords: Float64Array;
  start: Int32Array;
  size: Int32Array;
}

/** RLE counts of polygons [from, to), concatenated, with their lengths. */
export function rasterizeRange(set: PolygonSet, scratch: ReturnType<typeof rasterScratch>, from: number, to: number): { lengths: Int32Array<ArrayBuffer>; counts: Uint32Array<ArrayBuffer> } {
  const { coords, start, size } = set;
  const parts: Uint32Array[] = [];
  let total = 0;
  for (let i = from; i < to; i++) {
    const c = rasterizePolygon(coords.subarray(start[i]!, start[i + 1]!), size[2 * i]!, size[2 * i + 1]!, scratch);
    parts.push(c);
    total += c.length;
  }
  const lengths = Int32Array.from(parts, (c) => c.length);
  const counts = new Uint32Array(total);
  let at = 0;
  for (const c of parts) {
    counts.set(c, at);
    at += c.length;
  }
  return { lengths, counts };
}

/** Counts of [1000, 44, 3, 12] as they lie in a JSON file: multi-character values and an escaped backslash. */
const PROBE_COUNTS = 'Xo0\\\\13PO';
const PROBE_POLYGON = [1.2, 0.5, 7.9, 2.25, 4, 8.6];

/**
 * A summary and a polygon's counts, as text. The helper compares its answer
 * with this thread's before it claims any work: a helper that loaded other
 * code (a stale build, say) must not give other results.
 */
export function probeAnswer(): string {
  const summary = new Float64Array(Summary.Length);
  const good = summarizeCountsBytes(Uint8Array.from(PROBE_COUNTS, (c) => c.charCodeAt(0)), 0, PROBE_COUNTS.length, 1, 1059, summary);
  return `${good} ${summary.join()} ${rasterizePolygon(PROBE_POLYGON, 9, 9, rasterScratch()).join()}`;
}
