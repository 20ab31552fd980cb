import { Worker } from 'node:worker_threads';
import { Summary, summarizeCountsBytes } from './rle-bytes.js';

/**
 * Mask summaries (total, area and box of each mask's counts, see
 * `summarizeCountsBytes`) computed by this thread and one worker thread at
 * once — the longest step of loading 10^5 mask results.
 *
 * The masks are cut into chunks that both threads claim from a shared
 * counter, so the worker can only help: if it starts late, this thread has
 * taken more chunks; if it never starts, this thread takes them all. The
 * worker runs the very same function, sent as source text (it is written to
 * need no imports and no module state for that reason), on the file's bytes
 * in shared memory.
 */

/** Masks per claimed chunk: small enough to balance, large enough that claiming costs nothing. */
const CHUNK = 512;

/** How long to wait on a chunk the worker claimed before doing it here too (only a dead worker takes this long). */
const STALL_MS = 2000;

/** Spans of masks to summarise: per mask [height, width, countsStart, countsEnd] into the file bytes. */
export const SPAN = 4;

/** The worker's program: the summary function, then the claim loop. */
function workerSource(): string {
  return `'use strict';
const { parentPort } = require('node:worker_threads');
const BACKSLASH = 92;
const summarize = ${summarizeCountsBytes.toString()};
${summarizeRange.toString()}
${claimChunks.toString()}
parentPort.once('message', (job) => {
  // A broken program claims nothing (this thread then does every chunk).
  const probe = new Float64Array(${Summary.Length});
  if (!summarize(Uint8Array.of(48, 52), 0, 2, 2, 2, probe) || probe[1] !== 4) return parentPort.close();
  claimChunks(summarize, new Uint8Array(job.bytes), new Float64Array(job.spans), new Float64Array(job.out), new Uint8Array(job.ok), new Int32Array(job.ctrl), new Uint8Array(job.done), ${CHUNK});
  parentPort.close();
});
`;
}

/**
 * Summarise masks [from, to): out[6i..6i+6) as `Summary`, ok[i] = 1 where
 * well-formed. Self-contained, as it also runs in the worker.
 */
function summarizeRange(
  summarize: (bytes: Uint8Array, start: number, end: number, h: number, w: number, out: Float64Array) => boolean,
  bytes: Uint8Array,
  spans: Float64Array,
  out: Float64Array,
  ok: Uint8Array,
  from: number,
  to: number,
): void {
  const one = new Float64Array(6); // Summary.Length
  for (let i = from; i < to; i++) {
    const good = summarize(bytes, spans[4 * i + 2]!, spans[4 * i + 3]!, spans[4 * i]!, spans[4 * i + 1]!, one);
    ok[i] = good ? 1 : 0;
    if (!good) one.fill(0);
    out.set(one, 6 * i);
  }
}

/**
 * Claim chunks until none are left, summarising each and marking it done.
 * Shared by both threads (and self-contained, but for summarizeRange).
 * ctrl[0]: next chunk to claim; ctrl[1]: chunks finished.
 */
function claimChunks(
  summarize: (bytes: Uint8Array, start: number, end: number, h: number, w: number, out: Float64Array) => boolean,
  bytes: Uint8Array,
  spans: Float64Array,
  out: Float64Array,
  ok: Uint8Array,
  ctrl: Int32Array,
  done: Uint8Array,
  chunk: number,
): void {
  const n = ok.length;
  const chunks = Math.ceil(n / chunk);
  for (;;) {
    const c = Atomics.add(ctrl, 0, 1);
    if (c >= chunks) return;
    summarizeRange(summarize, bytes, spans, out, ok, c * chunk, Math.min(n, (c + 1) * chunk));
    Atomics.store(done, c, 1);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
}

/** A worker thread ready to help summarise one results file. */
export class SummaryHelper {
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(workerSource(), { eval: true });
    // It must neither keep the process alive nor crash it: whatever happens to it, this thread finishes the work.
    this.worker.unref();
    this.worker.on('error', () => {});
  }

  /**
   * Start summarising n masks whose spans are in `spans` (SPAN numbers
   * each); the worker begins at once, this thread joins in `finish()`, so
   * it can do other work meanwhile. `bytes` and `spans` must be views of
   * SharedArrayBuffers.
   */
  start(bytes: Uint8Array, spans: Float64Array, n: number): SummaryJob {
    const chunks = Math.ceil(n / CHUNK);
    const job: SummaryJob = {
      out: new Float64Array(new SharedArrayBuffer(8 * Summary.Length * n)),
      ok: new Uint8Array(new SharedArrayBuffer(n)),
      finish: () => {
        claimChunks(summarizeCountsBytes, bytes, spans, job.out, job.ok, ctrl, done, CHUNK);
        // Wait for the chunks the worker took; redo any it has not finished after a long stall.
        let seen = Atomics.load(ctrl, 1);
        let since = performance.now();
        while (seen < chunks) {
          Atomics.wait(ctrl, 1, seen, 50);
          const now = Atomics.load(ctrl, 1);
          if (now !== seen) {
            seen = now;
            since = performance.now();
          } else if (performance.now() - since > STALL_MS) {
            redoUnfinished(bytes, spans, job.out, job.ok, done);
            break;
          }
        }
      },
    };
    const ctrl = new Int32Array(new SharedArrayBuffer(8));
    const done = new Uint8Array(new SharedArrayBuffer(chunks));
    this.worker.postMessage({ bytes: bytes.buffer, spans: spans.buffer, out: job.out.buffer, ok: job.ok.buffer, ctrl: ctrl.buffer, done: done.buffer });
    return job;
  }

  close(): void {
    void this.worker.terminate();
  }
}

function redoUnfinished(bytes: Uint8Array, spans: Float64Array, out: Float64Array, ok: Uint8Array, done: Uint8Array): void {
  for (let c = 0; c < done.length; c++) {
    if (!Atomics.load(done, c)) summarizeRange(summarizeCountsBytes, bytes, spans, out, ok, c * CHUNK, Math.min(ok.length, (c + 1) * CHUNK));
  }
}

/** Summaries under way: `out` (`Summary.Length` numbers per mask) and `ok` (1 = well-formed) are complete once `finish()` returns. */
export interface SummaryJob {
  out: Float64Array;
  ok: Uint8Array;
  finish(): void;
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
