import { tf, type Tensor } from '../../engine/tf.js';
import { traceGraph } from '../../engine/onnx/tracer.js';
import type { OrtGraph, OrtOptions } from '../../engine/onnx/session.js';
import type { OnnxGraph } from '../../engine/onnx/proto.js';
import { GraphCache } from '../graph-cache.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import type { ImageList } from '../../structures/image-list.js';
import type { RoiHeadRunner } from '../../detection/roi-heads.js';
import { concatFloat32 } from '../../util/float-arrays.js';
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
 * The detector's dense stages on onnxruntime: the backbone graph (images →
 * pyramid + RPN outputs), and the box heads (one graph per cascade stage)
 * and the mask head on ROI features pooled by tfjs. Graphs are traced once
 * per input shape into `graphDir` and reused from there; ROI heads take a
 * fixed number of rows (the RPN's post-NMS top-k, or the detections kept
 * per image), padded with zeros and cut back after the run. Proposals,
 * ROIAlign, NMS and box decoding run on the host as on tfjs.
 */
export class OnnxDetectorEngine implements DetectorEngine {
  private readonly graphs: GraphCache;
  private readonly levels: string[];

  constructor(
    private readonly model: GeneralizedRCNN,
    graphDir: string,
    ort: OrtOptions = {},
  ) {
    this.graphs = new GraphCache(graphDir, ort);
    this.levels = model.backbone.strides.map((l) => l.name);
  }

  /** The backbone graph for this input shape: from the folder, else traced now (once). */
  graphFor(shape: readonly number[]): Promise<OrtGraph> {
    return this.cached(`detector_dense_${shape.join('x')}`, () => {
      const zeros = tf.zeros(shape as number[]);
      try {
        return traceDetectorDense(this.model, zeros).graph;
      } finally {
        zeros.dispose();
      }
    });
  }

  /** A cached graph: traced by `trace` when absent. */
  private cached(name: string, trace: () => OnnxGraph): Promise<OrtGraph> {
    return this.graphs.get(name, trace);
  }

  /** Run a ROI-head graph traced for `rows` rows on `pooled` ([R, ...]): padded with zero rows, in chunks when R exceeds them. */
  private async runRows(name: string, rows: number, pooled: Tensor, stage: (x: Tensor) => Record<string, Tensor>): Promise<Record<string, Float32Array>> {
    const [r, ...rest] = pooled.shape as number[];
    const shape = [rows, ...rest];
    const g = await this.cached(`${name}_${shape.join('x')}`, () => {
      const zeros = tf.zeros(shape);
      try {
        const { graph, outputs } = traceGraph(() => stage(zeros), [{ name: 'pooled', tensor: zeros }], { name, model: this.model });
        for (const t of Object.values(outputs)) t.dispose();
        return graph;
      } finally {
        zeros.dispose();
      }
    });
    const rowSize = rest.reduce((a, b) => a * b, 1);
    const data = pooled.dataSync() as Float32Array;
    const parts: Record<string, Float32Array[]> = {};
    for (let start = 0; start < r!; start += rows) {
      const n = Math.min(rows, r! - start);
      const chunk = new Float32Array(rows * rowSize);
      chunk.set(data.subarray(start * rowSize, (start + n) * rowSize));
      const out = await g.run({ pooled: { data: chunk, shape } });
      for (const [k, v] of Object.entries(out)) (parts[k] ??= []).push((v.data as Float32Array).subarray(0, (n * v.data.length) / rows));
    }
    return Object.fromEntries(Object.entries(parts).map(([k, ps]) => [k, ps.length === 1 ? ps[0]! : concatFloat32(ps)]));
  }

  /** The ROI heads' dense steps on onnxruntime. */
  readonly roiRunner: RoiHeadRunner = {
    boxHead: async (k, pooled) => {
      const roi = this.model.roi_heads;
      const out = await this.runRows(`box_head_${k}`, this.model.cfg.rpn.post_nms_topk_test, pooled, (x) => {
        const o = roi.boxHeadOnPooled(k, x);
        return { probs: tf.softmax(o.scores), deltas: o.deltas };
      });
      return { probs: out.probs!, deltas: out.deltas! };
    },
    maskProbs: async (pooled, classes) => {
      const head = this.model.roi_heads.mask_head!;
      const out = await this.runRows('mask_head', this.model.cfg.test.detections_per_image || 100, pooled, (x) => ({ probs: tf.sigmoid(head.forward(x)) }));
      // All classes' masks [R, M, M, K] → each box's own class, [R, M, M].
      const all = out.probs!;
      const K = head.numClasses;
      const perBox = all.length / classes.length / K;
      const picked = new Float32Array(classes.length * perBox);
      for (let i = 0; i < classes.length; i++) for (let p = 0; p < perBox; p++) picked[i * perBox + p] = all[(i * perBox + p) * K + classes[i]!]!;
      return picked;
    },
  };

  async detect(list: ImageList): Promise<Detections[]> {
    const g = await this.graphFor(list.tensor.shape);
    const out = await g.run({ images: { data: list.tensor.dataSync() as Float32Array, shape: list.tensor.shape } });
    const names = denseOutputNames(this.levels);
    const toTf = (name: string) => tf.tensor(out[name]!.data, out[name]!.shape, 'float32');
    const pyramid = new Map(this.levels.map((l, i) => [l, toTf(names.pyramid[i]!)]));
    const heads = this.levels.map((_, i) => ({ logits: toTf(names.logits[i]!), deltas: toTf(names.deltas[i]!) }));
    try {
      return await this.model.detectFromDense(pyramid, heads, list.sizes, this.roiRunner);
    } finally {
      for (const t of pyramid.values()) t.dispose();
      for (const h of heads) {
        h.logits.dispose();
        h.deltas.dispose();
      }
    }
  }

  dispose(): Promise<void> {
    return this.graphs.dispose();
  }
}
