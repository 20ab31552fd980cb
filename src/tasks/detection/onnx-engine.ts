import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor } from '../../engine/tf.js';
import { traceGraph } from '../../engine/onnx/tracer.js';
import { writeOnnxModel } from '../../io/onnx-file.js';
import { OrtGraph, type OrtOptions } from '../../engine/onnx/session.js';
import type { OnnxGraph } from '../../engine/onnx/proto.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import type { ImageList } from '../../structures/image-list.js';
import type { Detections } from '../../structures/instances.js';
import { detectorStages } from './stages.js';

/** The names of the dense graph's outputs: the pyramid levels, then the RPN head's outputs per level. */
export function denseOutputNames(levels: string[]): { pyramid: string[]; logits: string[]; deltas: string[] } {
  return { pyramid: levels, logits: levels.map((l) => `rpn_logits_${l}`), deltas: levels.map((l) => `rpn_deltas_${l}`) };
}

/**
 * Trace the detector's first dense graph — normalised, padded images →
 * pyramid + RPN head outputs — at the shape of `images`.
 */
export function traceDetectorDense(model: GeneralizedRCNN, images: Tensor): { graph: OnnxGraph; levels: string[] } {
  const stages = detectorStages(model);
  const levels = model.backbone.strides.map((l) => l.name);
  const names = denseOutputNames(levels);
  const { graph, outputs } = traceGraph(
    () => {
      const pyramid = stages.pyramid(images);
      const heads = stages.rpn(pyramid);
      const out: Record<string, Tensor> = {};
      levels.forEach((l, i) => {
        out[names.pyramid[i]!] = pyramid.get(l)!;
        out[names.logits[i]!] = heads[i]!.logits;
        out[names.deltas[i]!] = heads[i]!.deltas;
      });
      return out;
    },
    [{ name: 'images', tensor: images }],
    { name: 'detector_dense', model },
  );
  for (const t of Object.values(outputs)) t.dispose();
  return { graph, levels };
}

/** Runs a detector's dense stages; everything after them is the model's own host code. */
export interface DetectorEngine {
  detect(list: ImageList): Promise<Detections[]>;
  dispose(): Promise<void>;
}

export function tfjsDetectorEngine(model: GeneralizedRCNN): DetectorEngine {
  return { detect: async (list) => model.detect(list), dispose: async () => {} };
}

/**
 * The detector with its dense graph (images → pyramid + RPN outputs) on
 * onnxruntime: traced once per padded input shape into `graphDir` and
 * reused from there; proposals, ROI heads and mask heads run on tfjs
 * from the graph's outputs.
 */
export class OnnxDetectorEngine implements DetectorEngine {
  private readonly graphs = new Map<string, OrtGraph>();
  private readonly levels: string[];

  constructor(
    private readonly model: GeneralizedRCNN,
    private readonly graphDir: string,
    private readonly ort: OrtOptions = {},
  ) {
    this.levels = model.backbone.strides.map((l) => l.name);
  }

  /** The graph for this input shape: from the folder, else traced now (once). */
  async graphFor(shape: readonly number[]): Promise<OrtGraph> {
    const key = shape.join('x');
    const known = this.graphs.get(key);
    if (known) return known;
    const file = join(this.graphDir, `detector_dense_${key}.onnx`);
    if (!existsSync(file)) {
      const zeros = tf.zeros(shape as number[]);
      try {
        const { graph } = traceDetectorDense(this.model, zeros);
        writeOnnxModel(file, { graph, opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: 'detector_dense' } });
      } finally {
        zeros.dispose();
      }
    }
    const g = await OrtGraph.load(file, this.ort);
    this.graphs.set(key, g);
    return g;
  }

  async detect(list: ImageList): Promise<Detections[]> {
    const g = await this.graphFor(list.tensor.shape);
    const out = await g.run({ images: { data: list.tensor.dataSync() as Float32Array, shape: list.tensor.shape } });
    const names = denseOutputNames(this.levels);
    const toTf = (name: string) => tf.tensor(out[name]!.data, out[name]!.shape, 'float32');
    const pyramid = new Map(this.levels.map((l, i) => [l, toTf(names.pyramid[i]!)]));
    const heads = this.levels.map((_, i) => ({ logits: toTf(names.logits[i]!), deltas: toTf(names.deltas[i]!) }));
    try {
      return this.model.detectFromDense(pyramid, heads, list.sizes);
    } finally {
      for (const t of pyramid.values()) t.dispose();
      for (const h of heads) {
        h.logits.dispose();
        h.deltas.dispose();
      }
    }
  }

  async dispose(): Promise<void> {
    for (const g of this.graphs.values()) await g.release();
    this.graphs.clear();
  }
}
