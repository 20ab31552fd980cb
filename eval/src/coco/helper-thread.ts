import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { argsortDescending } from '../numeric/argsort.js';
import { accumulateCategory, type CategoryResult } from './accumulate-category.js';
import { rasterScratch, rasterizePolygon } from './polygon-raster.js';
import { Summary, summarizeCountsBytes } from './rle-bytes.js';

/**
 * A worker thread that helps with large evaluations: while mask results
 * load, it rasterises the ground truth's polygons (which mask evaluation
 * needs next) and summarises the results' masks (total, area and box of
 * each mask's counts — the longest step of loading 10^5 of them); while
 * evaluate() runs, it accumulates each category as soon as it is evaluated.
 *
 * Each job is cut into chunks that both threads claim from a shared
 * counter, so the worker can only help: if it starts late, this thread has
 * taken more chunks; if it never starts, this thread takes them all. The
 * worker runs the very same functions, sent as source text (they are
 * written to need no imports and no module state for that reason); it
 * reads the file bytes and spans from shared memory.
 */

/** Masks per claimed chunk: small enough to balance, large enough that claiming costs nothing. */
const MASK_CHUNK = 512;
const POLYGON_CHUNK = 128;

/** How long to wait on a chunk the worker claimed before doing it here too (only a dead worker takes this long). */
const STALL_MS = 2000;

/** Spans of masks to summarise: per mask [height, width, countsStart, countsEnd] into the file bytes. */
export const SPAN = 4;

type Summarize = (bytes: Uint8Array, start: number, end: number, h: number, w: number, out: Float64Array) => boolean;

/**
 * Summarise masks [from, to): out[6i..6i+6) as `Summary`, ok[i] = 1 where
 * well-formed. Self-contained, as it also runs in the worker.
 */
function summarizeRange(summarize: Summarize, bytes: Uint8Array, spans: Float64Array, out: Float64Array, ok: Uint8Array, from: number, to: number): void {
  const one = new Float64Array(6); // Summary.Length
  for (let i = from; i < to; i++) {
    const good = summarize(bytes, spans[4 * i + 2]!, spans[4 * i + 3]!, spans[4 * i]!, spans[4 * i + 1]!, one);
    ok[i] = good ? 1 : 0;
    if (!good) one.fill(0);
    out.set(one, 6 * i);
  }
}

/** Polygons to rasterise: part i has coordinates coords[start[i]..start[i+1]) in an image of size[2i] x size[2i+1]. */
export interface PolygonSet {
  coords: Float64Array;
  start: Int32Array;
  size: Int32Array;
}

/** RLE counts of polygons [from, to), concatenated, with their lengths. Self-contained, as it also runs in the worker. */
function rasterizeRange(
  rasterize: typeof rasterizePolygon,
  scratch: ReturnType<typeof rasterScratch>,
  coords: Float64Array,
  start: Int32Array,
  size: Int32Array,
  from: number,
  to: number,
): { lengths: Int32Array; counts: Uint32Array } {
  const parts: Uint32Array[] = [];
  let total = 0;
  for (let i = from; i < to; i++) {
    const c = rasterize(coords.subarray(start[i]!, start[i + 1]!), size[2 * i]!, size[2 * i + 1]!, scratch);
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

/**
 * Claim chunks until none are left, running each and then marking it done.
 * ctrl[0]: next chunk to claim; ctrl[1]: chunks finished; ctrl[2]: set
 * when the worker failed on a chunk (the main thread then redoes what is
 * not done at once). Self-contained, as it also runs in the worker.
 */
function claimChunks(ctrl: Int32Array, done: Uint8Array, run: (chunk: number) => void): void {
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

/** Counts of [1000, 44, 3, 12] as they lie in a JSON file: multi-character values and an escaped backslash. */
const PROBE_COUNTS = 'Xo0\\\\13PO';
const PROBE_POLYGON = [1.2, 0.5, 7.9, 2.25, 4, 8.6];

function probeSummary(): Float64Array {
  const out = new Float64Array(Summary.Length);
  summarizeCountsBytes(Uint8Array.from(PROBE_COUNTS, (c) => c.charCodeAt(0)), 0, PROBE_COUNTS.length, 1, 1059, out);
  return out;
}

/** The worker's program: the functions above, then one job per message, in order. */
export function workerSource(): string {
  return `'use strict';
const { parentPort } = require('node:worker_threads');
// Some TypeScript runners (tsx, esbuild with keepNames) wrap inner functions in __name(f, "f").
const __name = (f) => f;
const summarize = ${summarizeCountsBytes.toString()};
const rasterize = ${rasterizePolygon.toString()};
const rasterScratch = ${rasterScratch.toString()};
const argsort = ${argsortDescending.toString()};
const accumulateCategory = ${accumulateCategory.toString()};
${summarizeRange.toString()}
${rasterizeRange.toString()}
${claimChunks.toString()}
// A program that does not work claims nothing (the main thread then does every chunk): it must give what this thread gives.
const probe = new Float64Array(${Summary.Length});
let works = summarize(Uint8Array.from(${JSON.stringify(PROBE_COUNTS)}, (c) => c.charCodeAt(0)), 0, ${PROBE_COUNTS.length}, 1, 1059, probe)
  && probe.join() === ${JSON.stringify(probeSummary().join())}
  && rasterize(${JSON.stringify(PROBE_POLYGON)}, 9, 9, rasterScratch()).join() === ${JSON.stringify(rasterizePolygon(PROBE_POLYGON, 9, 9, rasterScratch()).join())};
const scratch = rasterScratch();
let accumulation = null;
// A helper left behind (evaluate() without accumulate()) ends itself once idle.
let idle = null;
parentPort.on('message', (job) => {
  clearTimeout(idle);
  idle = setTimeout(() => process.exit(0), 10000);
  if (!works) return;
  if (job.kind === 'accumulation') {
    accumulation = { ...job, precision: new Float64Array(job.precision), recall: new Float64Array(job.recall), scores: new Float64Array(job.scores), state: new Int32Array(job.state) };
    return;
  }
  if (job.kind === 'category') {
    const a = accumulation;
    // Claimed by whichever thread gets there first (0: free, 1: claimed, 2: done).
    if (Atomics.compareExchange(a.state, job.k, 0, 1) !== 0) return;
    try {
      accumulateCategory(job.res, job.k, a.dims, a.recThrs, a.maxDets, a.precision, a.recall, a.scores, argsort);
      Atomics.store(a.state, job.k, 2);
    } catch {
      // Give the category back, and help no more.
      works = false;
      Atomics.store(a.state, job.k, 0);
    }
    Atomics.notify(a.state, job.k);
    return;
  }
  const ctrl = new Int32Array(job.ctrl);
  const done = new Uint8Array(job.done);
  try {
    if (job.kind === 'masks') {
      const bytes = new Uint8Array(job.bytes), spans = new Float64Array(job.spans), out = new Float64Array(job.out), ok = new Uint8Array(job.ok);
      claimChunks(ctrl, done, (c) => summarizeRange(summarize, bytes, spans, out, ok, c * ${MASK_CHUNK}, Math.min(ok.length, (c + 1) * ${MASK_CHUNK})));
    } else {
      const coords = new Float64Array(job.coords), start = new Int32Array(job.start), size = new Int32Array(job.size);
      const n = start.length - 1;
      claimChunks(ctrl, done, (c) => {
        const r = rasterizeRange(rasterize, scratch, coords, start, size, c * ${POLYGON_CHUNK}, Math.min(n, (c + 1) * ${POLYGON_CHUNK}));
        job.port.postMessage({ chunk: c, lengths: r.lengths, counts: r.counts }, [r.lengths.buffer, r.counts.buffer]);
      });
    }
  } catch {
    // claimChunks told the main thread, which redoes the chunk; help no more.
    works = false;
  }
});
`;
}

/** Shared progress of one chunked job. */
class ChunkedJob {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(12));
  readonly done: Uint8Array;

  constructor(chunks: number) {
    this.done = new Uint8Array(new SharedArrayBuffer(chunks));
  }

  /** Claim and run chunks here until none are left, then wait for the worker's (redoing them here if it failed or stalled). */
  finish(run: (chunk: number) => void): void {
    const chunks = this.done.length;
    claimChunks(this.ctrl, this.done, run);
    let seen = Atomics.load(this.ctrl, 1);
    let since = performance.now();
    while (seen < chunks) {
      Atomics.wait(this.ctrl, 1, seen, 50);
      const now = Atomics.load(this.ctrl, 1);
      if (now !== seen) {
        seen = now;
        since = performance.now();
      }
      if (Atomics.load(this.ctrl, 2) || performance.now() - since > STALL_MS) {
        for (let c = 0; c < chunks; c++) if (!Atomics.load(this.done, c)) run(c);
        return;
      }
    }
  }
}

/** Summaries under way: `out` (`Summary.Length` numbers per mask) and `ok` (1 = well-formed) are complete once `finish()` returns. */
export interface SummaryJob {
  out: Float64Array;
  ok: Uint8Array;
  finish(): void;
}

/** A worker thread ready to help load one results file. */
export class HelperThread {
  private readonly worker: Worker;

  /** A helper, or null where no worker thread can be started (everything then runs on this thread). */
  static start(): HelperThread | null {
    try {
      return new HelperThread();
    } catch {
      return null;
    }
  }

  private constructor() {
    this.worker = new Worker(workerSource(), { eval: true });
    // It must neither keep the process alive nor crash it: whatever happens to it, this thread finishes the work.
    this.worker.unref();
    this.worker.on('error', () => {});
  }

  /**
   * Start summarising n masks whose spans are in `spans` (SPAN numbers
   * each); the worker begins at once, this thread joins in `finish()`, so it
   * can do other work meanwhile. `bytes` and `spans` must be views of
   * SharedArrayBuffers.
   */
  summarize(bytes: Uint8Array, spans: Float64Array, n: number): SummaryJob {
    const job = new ChunkedJob(Math.ceil(n / MASK_CHUNK));
    const out = new Float64Array(new SharedArrayBuffer(8 * Summary.Length * n));
    const ok = new Uint8Array(new SharedArrayBuffer(n));
    this.worker.postMessage({ kind: 'masks', bytes: bytes.buffer, spans: spans.buffer, out: out.buffer, ok: ok.buffer, ctrl: job.ctrl.buffer, done: job.done.buffer });
    return {
      out,
      ok,
      finish: () => job.finish((c) => summarizeRange(summarizeCountsBytes, bytes, spans, out, ok, c * MASK_CHUNK, Math.min(n, (c + 1) * MASK_CHUNK))),
    };
  }

  /**
   * Start rasterising polygons (after any summaries); `finish()` joins in
   * and returns each polygon's RLE counts. The set's arrays must be views
   * of SharedArrayBuffers.
   */
  rasterize(set: PolygonSet): { finish(): Uint32Array[] } {
    const n = set.start.length - 1;
    const job = new ChunkedJob(Math.ceil(n / POLYGON_CHUNK));
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ kind: 'polygons', coords: set.coords.buffer, start: set.start.buffer, size: set.size.buffer, ctrl: job.ctrl.buffer, done: job.done.buffer, port: port2 }, [port2]);
    return {
      finish: () => {
        const result: Uint32Array[] = new Array(n);
        const scratch = rasterScratch();
        const store = (chunk: number, lengths: Int32Array, counts: Uint32Array): void => {
          let at = 0;
          lengths.forEach((len, j) => {
            result[chunk * POLYGON_CHUNK + j] = counts.subarray(at, at + len);
            at += len;
          });
        };
        job.finish((c) => {
          const r = rasterizeRange(rasterizePolygon, scratch, set.coords, set.start, set.size, c * POLYGON_CHUNK, Math.min(n, (c + 1) * POLYGON_CHUNK));
          store(c, r.lengths, r.counts);
        });
        // A chunk the worker marked done has its message queued already.
        drain(port1, store);
        port1.close();
        // A safety net: each chunk was either done here or marked done after its message was posted, so none should be missing.
        for (let i = 0; i < n; i++) if (!result[i]) result[i] = rasterizePolygon(set.coords.subarray(set.start[i]!, set.start[i + 1]!), set.size[2 * i]!, set.size[2 * i + 1]!, scratch);
        return result;
      },
    };
  }

  /**
   * Start accumulating (pycocotools' accumulate) into shared arrays; `post`
   * hands over a category as soon as it is evaluated, `finish` accumulates
   * here whatever the worker has not taken and waits for the rest.
   */
  accumulate(dims: [number, number, number, number, number], recThrs: readonly number[], maxDets: readonly number[]): AccumulateJob {
    const [T, R, K, A, M] = dims;
    const precision = new Float64Array(new SharedArrayBuffer(8 * T * R * K * A * M)).fill(-1);
    const recall = new Float64Array(new SharedArrayBuffer(8 * T * K * A * M)).fill(-1);
    const scores = new Float64Array(new SharedArrayBuffer(8 * T * R * K * A * M)).fill(-1);
    const state = new Int32Array(new SharedArrayBuffer(4 * K));
    this.worker.postMessage({ kind: 'accumulation', dims, recThrs: [...recThrs], maxDets: [...maxDets], precision: precision.buffer, recall: recall.buffer, scores: scores.buffer, state: state.buffer });
    const run = (k: number, res: CategoryResult): void => accumulateCategory(res, k, dims, recThrs, maxDets, precision, recall, scores, argsortDescending);
    return {
      post: (k, res) => {
        // Views of shared memory arrive as views of the same memory.
        this.worker.postMessage({ kind: 'category', k, res });
      },
      finish: (results) => {
        results.forEach((res, k) => {
          if (res && Atomics.compareExchange(state, k, 0, 1) === 0) {
            run(k, res);
            Atomics.store(state, k, 2);
          }
        });
        // Wait for the categories the worker took; do one it gave back or stalls on.
        results.forEach((res, k) => {
          if (!res) return;
          const since = performance.now();
          for (;;) {
            const st = Atomics.load(state, k);
            if (st === 2) break;
            if ((st === 0 && Atomics.compareExchange(state, k, 0, 1) === 0) || performance.now() - since > STALL_MS) {
              run(k, res);
              Atomics.store(state, k, 2);
              break;
            }
            Atomics.wait(state, k, 1, 50);
          }
        });
        return { precision, recall, scores };
      },
    };
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** Take the worker's posted chunks. */
function drain(port: MessagePort, store: (chunk: number, lengths: Int32Array, counts: Uint32Array) => void): void {
  for (;;) {
    const m = receiveMessageOnPort(port) as { message: { chunk: number; lengths: Int32Array; counts: Uint32Array } } | undefined;
    if (!m) return;
    store(m.message.chunk, m.message.lengths, m.message.counts);
  }
}

/** Accumulation under way (see HelperThread.accumulate). */
export interface AccumulateJob {
  /** Hand over category k (its arrays must be views of SharedArrayBuffers). */
  post(k: number, res: CategoryResult): void;
  finish(results: readonly (CategoryResult | null)[]): { precision: Float64Array; recall: Float64Array; scores: Float64Array };
}

/** The same summaries on this thread alone (few masks, or no worker wanted), done in `finish()`. */
export function summarizeSerially(bytes: Uint8Array, spans: Float64Array, n: number): SummaryJob {
  const job: SummaryJob = {
    out: new Float64Array(Summary.Length * n),
    ok: new Uint8Array(n),
    finish: () => summarizeRange(summarizeCountsBytes, bytes, spans, job.out, job.ok, 0, n),
  };
  return job;
}
