import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeOnnxModel } from '../io/onnx-file.js';
import { OrtGraph, type OrtOptions } from '../engine/onnx/session.js';
import type { OnnxGraph } from '../engine/onnx/proto.js';

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

  /** The graph `name`: loaded, from the folder, or traced by `trace` now. */
  get(name: string, trace: () => OnnxGraph): Promise<OrtGraph> {
    return this.getWritten(name, async (file) => {
      writeOnnxModel(file, { graph: trace(), opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: name } });
    });
  }

  /** The graph `name`: loaded, from the folder, or written to its file by `write` now (which may trace elsewhere). */
  async getWritten(name: string, write: (file: string) => Promise<void>): Promise<OrtGraph> {
    const known = this.graphs.get(name);
    if (known) return known;
    const file = join(this.dir, `${name}.onnx`);
    if (!existsSync(file)) await write(file);
    const g = await OrtGraph.load(file, this.ort);
    this.graphs.set(name, g);
    return g;
  }

  async dispose(): Promise<void> {
    for (const g of this.graphs.values()) await g.release();
    this.graphs.clear();
  }
}
