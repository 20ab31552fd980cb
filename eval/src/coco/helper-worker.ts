import { parentPort, workerData } from 'node:worker_threads';
import { accumulateCategory } from './accumulate-category.js';
import { IDLE_MS, MASK_CHUNK, POLYGON_CHUNK, claimChunks, type AccumulationJob, type HelperJob, type HelperWorkerData, type MasksJob, type PolygonChunk, type PolygonsJob } from './helper-protocol.js';
import { probeAnswer, rasterizeRange, summarizeRange } from './helper-tasks.js';
import { rasterScratch } from './polygon-raster.js';

/**
 * The helper thread's program (started by helper-thread.ts): one job per
 * message, in order. Whatever goes wrong here, it only stops helping — the
 * main thread does every chunk it does not take.
 */

const port = parentPort;
if (!port) throw new Error('helper-worker runs in a worker thread');

// A helper whose code does not give the main thread's answers claims nothing.
let works = probeAnswer() === (workerData as HelperWorkerData).probe;
const scratch = rasterScratch();
let accumulation: { job: AccumulationJob; precision: Float64Array; recall: Float64Array; scores: Float64Array; state: Int32Array } | null = null;
let idle: ReturnType<typeof setTimeout> | undefined;

port.on('message', (job: HelperJob) => {
  clearTimeout(idle);
  idle = setTimeout(() => process.exit(0), IDLE_MS);
  if (!works) return;
  switch (job.kind) {
    case 'accumulation':
      accumulation = { job, precision: new Float64Array(job.precision), recall: new Float64Array(job.recall), scores: new Float64Array(job.scores), state: new Int32Array(job.state) };
      return;
    case 'category': {
      const a = accumulation;
      // Claimed by whichever thread gets there first (0: free, 1: claimed, 2: done).
      if (!a || Atomics.compareExchange(a.state, job.k, 0, 1) !== 0) return;
      try {
        accumulateCategory(job.res, job.k, a.job.dims, a.job.recThrs, a.job.maxDets, a.precision, a.recall, a.scores);
        Atomics.store(a.state, job.k, 2);
      } catch {
        // Give the category back, and help no more.
        works = false;
        Atomics.store(a.state, job.k, 0);
      }
      Atomics.notify(a.state, job.k);
      return;
    }
    case 'masks':
    case 'polygons':
      try {
        chunked(job);
      } catch {
        // claimChunks told the main thread, which redoes the chunk; help no more.
        works = false;
      }
  }
});

/** Claim and run a chunked job's chunks alongside the main thread. */
function chunked(job: MasksJob | PolygonsJob): void {
  const ctrl = new Int32Array(job.ctrl);
  const done = new Uint8Array(job.done);
  if (job.kind === 'masks') {
    const bytes = new Uint8Array(job.bytes);
    const spans = new Float64Array(job.spans);
    const out = new Float64Array(job.out);
    const ok = new Uint8Array(job.ok);
    claimChunks(ctrl, done, (c) => summarizeRange(bytes, spans, out, ok, c * MASK_CHUNK, Math.min(ok.length, (c + 1) * MASK_CHUNK)));
    return;
  }
  const set = { coords: new Float64Array(job.coords), start: new Int32Array(job.start), size: new Int32Array(job.size) };
  const n = set.start.length - 1;
  claimChunks(ctrl, done, (c) => {
    const r = rasterizeRange(set, scratch, c * POLYGON_CHUNK, Math.min(n, (c + 1) * POLYGON_CHUNK));
    const message: PolygonChunk = { chunk: c, lengths: r.lengths, counts: r.counts };
    job.port.postMessage(message, [r.lengths.buffer, r.counts.buffer]);
  });
}
