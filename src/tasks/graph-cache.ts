import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeOnnxModel } from '../io/onnx-file.js';
import { OrtGraph, type OrtOptions } from '../engine/onnx/session.js';
import type { OnnxGraph } from '../engine/onnx/proto.js';
import { tf } from '../engine/tf.js';
import { traceInWorker } from './trace-in-worker.js';
import type { TraceJob } from './trace-job.js';

/**
 * The traced graphs of one model (one set of weights under one config) in a
 * folder: a graph is traced the first time its name is asked for, written
 * as `<name>.onnx`, and loaded into onnxruntime once per process. Names
 * carry the input shapes: a graph holds the shapes it was traced at.
 */
export class GraphCache {
  private readonly graphs = new Map<string, OrtGraph>();

  constructor(
    readonly dir: string,
    private readonly ort: OrtOptions = {},
  ) {}

  /**
   * The graph `name`: loaded, from the folder, or traced now. With `job`
   * (the model's config and weights file) on the wasm backend, it is traced
   * in a worker thread, whose heap is freed when it ends (a wasm heap never
   * shrinks); otherwise by `trace` on this thread.
   */
  async get(name: string, trace: () => OnnxGraph, job?: TraceJob): Promise<OrtGraph> {
    const known = this.graphs.get(name);
    if (known) return known;
    const file = join(this.dir, `${name}.onnx`);
    if (!existsSync(file)) {
      if (job && tf.getBackend() === 'wasm') await traceInWorker(job, file);
      else writeOnnxModel(file, { graph: trace(), opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: name } });
    }
    const g = await OrtGraph.load(file, this.ort);
    this.graphs.set(name, g);
    return g;
  }

  async dispose(): Promise<void> {
    for (const g of this.graphs.values()) await g.release();
    this.graphs.clear();
  }
}
