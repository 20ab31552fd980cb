import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadOnnxRuntime, type OrtDevice } from '../engine/onnx/session.js';
import { DensekitError } from '../util/errors.js';

/** What runs a model's dense stages at inference: onnxruntime on traced graphs, or tfjs itself. */
export type EngineName = 'onnx' | 'tfjs';

export interface InferenceEngine {
  name: EngineName;
  /** One line for the user: which engine, and why. */
  reason: string;
  device: OrtDevice;
  /** onnxruntime's CPU threads. */
  threads?: number;
}

/**
 * The engine a command uses: the one asked for, else onnxruntime when it
 * loads (it runs the dense stages several times faster than any tfjs CPU
 * backend), else tfjs with the reason.
 */
export async function chooseEngine(requested: string | undefined, opts: { device?: string; threads?: number; onnxSupported?: boolean } = {}): Promise<InferenceEngine> {
  if (requested !== undefined && requested !== 'onnx' && requested !== 'tfjs') throw new DensekitError(`--engine must be onnx or tfjs, got ${requested}`);
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'webgpu' && device !== 'cuda') throw new DensekitError(`--device must be cpu, webgpu or cuda, got ${device}`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0)) throw new DensekitError(`--threads must be a positive integer, got ${opts.threads}`);
  if (requested === 'tfjs') return { name: 'tfjs', reason: 'asked for (--engine tfjs)', device };
  if (opts.onnxSupported === false) {
    if (requested === 'onnx') throw new DensekitError('--engine onnx: this task has no ONNX graphs; use --engine tfjs');
    return { name: 'tfjs', reason: 'this task has no ONNX graphs', device };
  }
  const ort = await loadOnnxRuntime();
  if (!ort.ok) {
    if (requested === 'onnx') throw new DensekitError(`--engine onnx: onnxruntime-node cannot be loaded (${ort.reason})`);
    return { name: 'tfjs', reason: `onnxruntime-node cannot be loaded (${ort.reason}); the dense stages run on tfjs`, device };
  }
  const why = requested === 'onnx' ? 'asked for (--engine onnx)' : 'onnxruntime-node loads; the dense stages run as traced graphs';
  return { name: 'onnx', reason: `${why}; ${device}${device === 'cpu' ? `, ${opts.threads ?? 'all'} threads` : ''}`, device, threads: opts.threads };
}

export function describeEngine(e: InferenceEngine): string {
  return `engine: ${e.name} (${e.reason})`;
}

/**
 * The folder for graphs traced from one set of weights under one config:
 * `$DENSEKIT_CACHE` (default ~/.cache/densekit)/onnx/<key>, the key a hash
 * of the weights file (path, size, modification time), the model and input
 * config and densekit's version. New weights or settings trace anew.
 */
export function graphCacheDir(weights: string, config: unknown): string {
  const st = statSync(weights);
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const key = createHash('sha256')
    .update(JSON.stringify({ weights: resolve(weights), size: st.size, mtime: st.mtimeMs, config, version }))
    .digest('hex')
    .slice(0, 20);
  return join(process.env.DENSEKIT_CACHE ?? join(homedir(), '.cache', 'densekit'), 'onnx', key);
}
