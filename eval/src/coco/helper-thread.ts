import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { accumulateCategory, type CategoryResult } from './accumulate-category.js';
import { MASK_CHUNK, POLYGON_CHUNK, claimChunks, type AccumulateDims, type HelperJob, type HelperWorkerData, type PolygonChunk } from './helper-protocol.js';
import { probeAnswer, rasterizeRange, summarizeRange, type PolygonSet } from './helper-tasks.js';
import { rasterScratch, rasterizePolygon } from './polygon-raster.js';
import { Summary } from './rle-bytes.js';

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
 * worker (helper-worker.ts) runs the very same functions (helper-tasks.ts);
 * it reads the file bytes and spans from shared memory.
 */

/** How long to wait on a chunk the worker claimed before doing it here too (only a dead worker takes this long). */
const STALL_MS = 2000;

/**
 * Start the helper's program: helper-worker.js beside this module (the
 * build), or helper-worker.ts when this module runs from source (tests,
 * benchmarks) — through tsx's require hook, since on Node 20 a worker gets
 * no ESM loader hooks from `--import tsx`. Throws where tsx is missing
 * (HelperThread.start then gives no helper).
 */
export function startHelperWorker(): Worker {
  const workerData: HelperWorkerData = { probe: probeAnswer() };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./helper-worker.js', import.meta.url), { workerData });
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs');
  const program = fileURLToPath(new URL('./helper-worker.ts', import.meta.url));
  return new Worker(`require(${JSON.stringify(tsx)});\nrequire(${JSON.stringify(program)});`, { eval: true, workerData });
}

/** Shared progress of one chunked job. */
class ChunkedJob {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(12));
  readonly done: Uint8Array<SharedArrayBuffer>;

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
    this.worker = startHelperWorker();
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
    this.post({ kind: 'masks', bytes: bytes.buffer, spans: spans.buffer, out: out.buffer, ok: ok.buffer, ctrl: job.ctrl.buffer, done: job.done.buffer });
    return {
      out,
      ok,
      finish: () => job.finish((c) => summarizeRange(bytes, spans, out, ok, c * MASK_CHUNK, Math.min(n, (c + 1) * MASK_CHUNK))),
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
    this.post({ kind: 'polygons', coords: set.coords.buffer, start: set.start.buffer, size: set.size.buffer, ctrl: job.ctrl.buffer, done: job.done.buffer, port: port2 }, [port2]);
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
          const r = rasterizeRange(set, scratch, c * POLYGON_CHUNK, Math.min(n, (c + 1) * POLYGON_CHUNK));
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
  accumulate(dims: AccumulateDims, recThrs: readonly number[], maxDets: readonly number[]): AccumulateJob {
    const [T, R, K, A, M] = dims;
    const precision = new Float64Array(new SharedArrayBuffer(8 * T * R * K * A * M)).fill(-1);
    const recall = new Float64Array(new SharedArrayBuffer(8 * T * K * A * M)).fill(-1);
    const scores = new Float64Array(new SharedArrayBuffer(8 * T * R * K * A * M)).fill(-1);
    const state = new Int32Array(new SharedArrayBuffer(4 * K));
    this.post({ kind: 'accumulation', dims, recThrs: [...recThrs], maxDets: [...maxDets], precision: precision.buffer, recall: recall.buffer, scores: scores.buffer, state: state.buffer });
    const run = (k: number, res: CategoryResult): void => accumulateCategory(res, k, dims, recThrs, maxDets, precision, recall, scores);
    return {
      post: (k, res) => {
        // Views of shared memory arrive as views of the same memory.
        this.post({ kind: 'category', k, res });
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

  private post(job: HelperJob, transfer?: MessagePort[]): void {
    this.worker.postMessage(job, transfer);
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** Take the worker's posted chunks. */
function drain(port: MessagePort, store: (chunk: number, lengths: Int32Array, counts: Uint32Array) => void): void {
  for (;;) {
    const m = receiveMessageOnPort(port) as { message: PolygonChunk } | undefined;
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
    finish: () => summarizeRange(bytes, spans, job.out, job.ok, 0, n),
  };
  return job;
}
