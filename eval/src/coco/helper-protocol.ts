import type { MessagePort } from 'node:worker_threads';
import type { CategoryResult } from './accumulate-category.js';

/**
 * What this thread and the helper thread (helper-worker.ts) agree on: the
 * jobs it is sent, and how both claim a job's chunks from shared counters.
 */

/** Masks per claimed chunk: small enough to balance, large enough that claiming costs nothing. */
export const MASK_CHUNK = 512;
export const POLYGON_CHUNK = 128;

/** Spans of masks to summarise: per mask [height, width, countsStart, countsEnd] into the file bytes. */
export const SPAN = 4;

/** A helper that gets no job for this long ends itself (one left behind by evaluate() without accumulate()). */
export const IDLE_MS = 10_000;

/** accumulate()'s array sizes [T, R, K, A, M]. */
export type AccumulateDims = [number, number, number, number, number];

/** Progress of a chunked job, as the Int32Array `ctrl` and the Uint8Array `done` (one flag per chunk) both threads share. */
interface ChunkedJobMemory {
  ctrl: SharedArrayBuffer;
  done: SharedArrayBuffer;
}

/** Summarise masks: `bytes` (the file), `spans` (SPAN numbers per mask) in; `out` (Summary.Length numbers per mask), `ok` (1 = well-formed) out. */
export interface MasksJob extends ChunkedJobMemory {
  kind: 'masks';
  bytes: ArrayBufferLike;
  spans: ArrayBufferLike;
  out: SharedArrayBuffer;
  ok: SharedArrayBuffer;
}

/** Rasterise polygons (a PolygonSet's buffers); each chunk's counts come back on `port` as a PolygonChunk. */
export interface PolygonsJob extends ChunkedJobMemory {
  kind: 'polygons';
  coords: ArrayBufferLike;
  start: ArrayBufferLike;
  size: ArrayBufferLike;
  port: MessagePort;
}

/** The arrays categories are accumulated into; `state` holds per category 0: free, 1: claimed, 2: done. */
export interface AccumulationJob {
  kind: 'accumulation';
  dims: AccumulateDims;
  recThrs: number[];
  maxDets: number[];
  precision: SharedArrayBuffer;
  recall: SharedArrayBuffer;
  scores: SharedArrayBuffer;
  state: SharedArrayBuffer;
}

/** Accumulate category k (of the last AccumulationJob), unless this thread claimed it first. */
export interface CategoryJob {
  kind: 'category';
  k: number;
  res: CategoryResult;
}

export type HelperJob = MasksJob | PolygonsJob | AccumulationJob | CategoryJob;

/** A chunk of rasterised polygons: each polygon's counts length, and the counts concatenated. */
export interface PolygonChunk {
  chunk: number;
  lengths: Int32Array;
  counts: Uint32Array;
}

/** What the helper starts with: this thread's answer to the probe (see helper-tasks.ts), which it must give too. */
export interface HelperWorkerData {
  probe: string;
}

/**
 * Claim chunks until none are left, running each and then marking it done.
 * ctrl[0]: next chunk to claim; ctrl[1]: chunks finished; ctrl[2]: set
 * when the worker failed on a chunk (the main thread then redoes what is
 * not done at once).
 */
export function claimChunks(ctrl: Int32Array, done: Uint8Array, run: (chunk: number) => void): void {
  for (;;) {
    const c = Atomics.add(ctrl, 0, 1);
    if (c >= done.length) return;
    try {
      run(c);
    } catch (err) {
      Atomics.store(ctrl, 2, 1);
      Atomics.notify(ctrl, 1);
      throw err;
    }
    Atomics.store(done, c, 1);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
}
