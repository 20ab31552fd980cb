import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DensekitError } from '../util/errors.js';
import type { TraceJob } from './trace-job.js';

/**
 * The worker's entry: the module beside this one when built. From the
 * TypeScript sources (under tsx) a worker thread does not get the loader
 * the process was started with, so a one-line shim registers it first.
 */
function workerEntry(): URL {
  const ext = extname(fileURLToPath(import.meta.url));
  const file = new URL(`./trace-worker${ext}`, import.meta.url);
  if (ext === '.js') return file;
  const api = import.meta.resolve('tsx/esm/api');
  const shim = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(file.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(shim)}`);
}

/**
 * Trace `job` in a worker thread into `file` and wait for it. Bad input (a
 * kernel with no conversion, the model not fitting the heap) comes back as
 * a DensekitError with the worker's message; anything else as an internal
 * error with the worker's stack.
 */
export function traceInWorker(job: TraceJob, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerEntry(), { workerData: { job, file } });
    let answered = false;
    worker.once('message', (m: { ok: boolean; message?: string; densekit?: boolean; stack?: string }) => {
      answered = true;
      if (m.ok) return resolve();
      if (m.densekit) return reject(new DensekitError(m.message ?? 'tracing failed'));
      const internal = new Error(`while tracing: ${m.message}`);
      if (m.stack) internal.stack = m.stack;
      reject(internal);
    });
    worker.once('error', (err) => {
      answered = true;
      reject(new DensekitError(`tracing failed: ${err.message}`, { file }));
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new DensekitError(`the tracing thread exited (${code}) without a graph`, { file }));
    });
  });
}
