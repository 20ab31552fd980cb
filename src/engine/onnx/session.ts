import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { DensekitError } from '../../util/errors.js';

/** Where onnxruntime runs a graph: its CPU provider (inside the npm package), WebGPU (bundled), or CUDA (installed by the user). */
export type OrtDevice = 'cpu' | 'webgpu' | 'cuda';

export interface OrtOptions {
  device?: OrtDevice;
  /** Threads of the CPU provider (default: every core). */
  threads?: number;
}

let runtime: typeof Ort | undefined;
let loadError: string | undefined;

/**
 * onnxruntime-node, or why it cannot be used on this machine (its native
 * library failed to load): the caller falls back to tfjs and says why.
 */
export async function loadOnnxRuntime(): Promise<{ ok: true; ort: typeof Ort } | { ok: false; reason: string }> {
  if (runtime) return { ok: true, ort: runtime };
  if (loadError === undefined) {
    try {
      runtime = (await import('onnxruntime-node')) as typeof Ort;
      return { ok: true, ort: runtime };
    } catch (err) {
      loadError = (err as Error).message.split('\n')[0]!;
    }
  }
  return { ok: false, reason: loadError! };
}

/** One graph loaded into onnxruntime, run with float32/int32 host buffers in and out. */
export class OrtGraph {
  private constructor(
    private readonly ort: typeof Ort,
    readonly session: Ort.InferenceSession,
    readonly file: string,
  ) {}

  /** Load a `.onnx` file (its `.onnx.data` beside it is found by the runtime). */
  static async load(file: string, opts: OrtOptions = {}): Promise<OrtGraph> {
    const loaded = await loadOnnxRuntime();
    if (!loaded.ok) throw new DensekitError(`onnxruntime-node cannot be loaded: ${loaded.reason}`, { file });
    const device = opts.device ?? 'cpu';
    // DENSEKIT_ORT_PROFILE=DIR: onnxruntime's per-node timings, one JSON file per graph in DIR (written when it is released).
    const profileDir = process.env.DENSEKIT_ORT_PROFILE;
    try {
      const session = await loaded.ort.InferenceSession.create(file, {
        executionProviders: [device],
        intraOpNumThreads: opts.threads ?? availableParallelism(),
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Planned memory patterns pre-allocate every intermediate of a run at once: for a base
        // Mask2Former window at 896² that took peak RSS from 3.6 to 5.0 GB, at no gain in speed.
        enableMemPattern: false,
        // Errors only: on GPU providers it warns for every shape op it keeps on the CPU, by design.
        logSeverityLevel: 3,
        ...(profileDir ? { enableProfiling: true, profileFilePrefix: join(profileDir, basename(file, '.onnx')) } : {}),
      });
      return new OrtGraph(loaded.ort, session, file);
    } catch (err) {
      throw new DensekitError(`not a graph onnxruntime can run on ${device}: ${(err as Error).message.split('\n')[0]}`, { file });
    }
  }

  /** Run with the given inputs; outputs by name as (data, shape). */
  async run(inputs: Record<string, { data: Float32Array | Int32Array; shape: readonly number[] }>): Promise<Record<string, { data: Float32Array | Int32Array; shape: number[] }>> {
    const feeds: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = new this.ort.Tensor(t.data instanceof Float32Array ? 'float32' : 'int32', t.data, [...t.shape]);
    const out = await this.session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { data: t.data as Float32Array | Int32Array, shape: [...t.dims] }]));
  }

  async release(): Promise<void> {
    if (process.env.DENSEKIT_ORT_PROFILE) this.session.endProfiling();
    await this.session.release();
  }
}
