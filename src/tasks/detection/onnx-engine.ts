import { tf, type Tensor } from '../../engine/tf.js';
import { traceGraph } from '../../engine/onnx/tracer.js';
import type { OrtGraph, OrtOptions } from '../../engine/onnx/session.js';
import type { OnnxGraph } from '../../engine/onnx/proto.js';
import { GraphCache } from '../graph-cache.js';
import type { DetectorGraphSpec, TraceSource } from '../trace-job.js';
import type { DetectorRunConfig } from '../../config/schema.js';
import type { GeneralizedRCNN } from '../../detection/rcnn.js';
import type { ImageList } from '../../structures/image-list.js';
import type { RoiHeadRunner } from '../../detection/roi-heads.js';
import type { MultiLevelRoiPooler } from '../../detection/pooler.js';
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

/** Host buffers of the dense graph's outputs, by name, as onnxruntime gave them. */
type HostOutputs = Record<string, { data: Float32Array | Int32Array; shape: readonly number[] }>;

/**
 * The detector's dense stages on onnxruntime: the backbone graph (images →
 * pyramid + RPN outputs), and per image shape the box heads (one graph per
 * cascade stage) and the mask head, each pooling from the pyramid itself
 * (ROIAlign in the graph). The pyramid stays in onnxruntime's buffers: it is
 * fed from the first graph's outputs to the head graphs without a copy.
 * Graphs are traced once per shape into `graphDir` and reused from there;
 * head graphs take a fixed number of rows (the RPN's post-NMS top-k, or the
 * detections kept per image), the boxes beyond the real ones placed where
 * they pool nothing, in chunks when there are more. Proposals, level
 * assignment, NMS and box decoding run on the host as on tfjs.
 */
export class OnnxDetectorEngine implements DetectorEngine {
  private readonly graphs: GraphCache;
  private readonly levels: string[];

  /**
   * With `source` (the model's config and weights file) and the wasm
   * backend, graphs are traced in a worker thread, whose wasm heap is freed
   * when it ends; otherwise on this thread, from `model` as it is.
   */
  constructor(
    private readonly model: GeneralizedRCNN,
    graphDir: string,
    ort: OrtOptions = {},
    private readonly source?: TraceSource<DetectorRunConfig>,
  ) {
    this.graphs = new GraphCache(graphDir, ort);
    this.levels = model.backbone.strides.map((l) => l.name);
  }

  /** A graph from the folder, else traced now (once): from the source in a worker, or by `trace` (see GraphCache). */
  private graph(name: string, spec: DetectorGraphSpec, trace: () => OnnxGraph): Promise<OrtGraph> {
    return this.graphs.get(name, trace, this.source && { task: 'detection', ...this.source, graph: spec });
  }

  /** The backbone graph for this input shape: from the folder, else traced now (once). */
  graphFor(shape: readonly number[]): Promise<OrtGraph> {
    return this.graph(`detector_dense_${shape.join('x')}`, { kind: 'detector_dense', shape: [...shape] }, () => {
      const zeros = tf.zeros(shape as number[]);
      try {
        return traceDetectorDense(this.model, zeros).graph;
      } finally {
        zeros.dispose();
      }
    });
  }

  /**
   * Run a head graph on `boxes` (input frame) with their batch indices,
   * `rows` at a time, and return its outputs cut back to the boxes.
   */
  private async runHead(head: HeadGraph, pyramid: HostOutputs, boxes: Float32Array, batchIndex: Int32Array): Promise<Record<string, Float32Array>> {
    const pooler = head.pooler;
    const shapes = pooler.levels.map((l) => pyramid[l.name]!.shape);
    const levelShapes = shapes.map((sh) => [...sh]);
    const g = await this.graph(`${head.name}_${head.rows}_${shapes[0]!.join('x')}`, head.cascadeStage === undefined ? { kind: 'mask_head', levelShapes } : { kind: 'box_head', stage: head.cascadeStage, levelShapes }, () => traceHead(this.model, head, shapes));
    const r = batchIndex.length;
    const parts: Record<string, Float32Array[]> = {};
    for (let start = 0; start < r; start += head.rows) {
      const n = Math.min(head.rows, r - start);
      const { levelBoxes, batchIndex: index } = pooler.levelRows(boxes.subarray(start * 4, (start + n) * 4), batchIndex.subarray(start, start + n), head.rows);
      const feeds: HostOutputs = { batch_index: { data: index, shape: [head.rows] } };
      pooler.levels.forEach((l, i) => {
        feeds[l.name] = pyramid[l.name]!;
        feeds[`rois_${l.name}`] = { data: levelBoxes[i]!, shape: [head.rows, 4] };
      });
      const out = await g.run(feeds);
      for (const [k, v] of Object.entries(out)) (parts[k] ??= []).push((v.data as Float32Array).subarray(0, (n * v.data.length) / head.rows));
    }
    return Object.fromEntries(Object.entries(parts).map(([k, ps]) => [k, ps.length === 1 ? ps[0]! : concatFloat32(ps)]));
  }

  /** The ROI heads' dense steps on onnxruntime, pooling from this image batch's pyramid. */
  private runner(pyramid: HostOutputs): RoiHeadRunner {
    return {
      boxHead: async (k, boxes, batchIndex) => {
        const out = await this.runHead(boxHeadGraph(this.model, k), pyramid, boxes, batchIndex);
        return { probs: out.probs!, deltas: out.deltas! };
      },
      maskProbs: async (boxes, batchIndex, classes) => {
        const out = await this.runHead(maskHeadGraph(this.model), pyramid, boxes, batchIndex);
        // All classes' masks [R, M, M, K] → each box's own class, [R, M, M].
        const all = out.probs!;
        const K = this.model.roi_heads.mask_head!.numClasses;
        const perBox = all.length / classes.length / K;
        const picked = new Float32Array(classes.length * perBox);
        for (let i = 0; i < classes.length; i++) for (let p = 0; p < perBox; p++) picked[i * perBox + p] = all[(i * perBox + p) * K + classes[i]!]!;
        return picked;
      },
    };
  }

  async detect(list: ImageList): Promise<Detections[]> {
    const g = await this.graphFor(list.tensor.shape);
    const out = await g.run({ images: { data: list.tensor.dataSync() as Float32Array, shape: list.tensor.shape } });
    const names = denseOutputNames(this.levels);
    const toTf = (name: string) => tf.tensor(out[name]!.data, out[name]!.shape, 'float32');
    const heads = this.levels.map((_, i) => ({ logits: toTf(names.logits[i]!), deltas: toTf(names.deltas[i]!) }));
    const shapes = new Map(this.levels.map((l) => [l, { shape: out[l]!.shape }]));
    try {
      return await this.model.detectFromDense(shapes, heads, list.sizes, this.runner(out));
    } finally {
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

/** One ROI head as a graph: pyramid levels + boxes per level + batch index → named outputs. */
export interface HeadGraph {
  name: string;
  /** The cascade stage of a box head (undefined for the mask head). */
  cascadeStage?: number;
  /** Rows of boxes per run. */
  rows: number;
  pooler: MultiLevelRoiPooler;
  /** The head on pooled features [rows, S, S, C]. */
  stage(pooled: Tensor): Record<string, Tensor>;
}

/** Box head `k` (a cascade stage): class probabilities (softmax) and deltas, for the RPN's post-NMS top-k rows. */
export function boxHeadGraph(model: GeneralizedRCNN, k: number): HeadGraph {
  return {
    name: `box_head_${k}`,
    cascadeStage: k,
    rows: model.cfg.rpn.post_nms_topk_test,
    pooler: model.roi_heads.boxPooler,
    stage: (pooled) => {
      const o = model.roi_heads.boxHeadOnPooled(k, pooled);
      return { probs: tf.softmax(o.scores), deltas: o.deltas };
    },
  };
}

/** The mask head: every class's mask probabilities (sigmoid) [R, M, M, K], for the detections kept per image. */
export function maskHeadGraph(model: GeneralizedRCNN): HeadGraph {
  return {
    name: 'mask_head',
    rows: model.cfg.test.detections_per_image || 100,
    pooler: model.roi_heads.maskPooler,
    stage: (pooled) => ({ probs: tf.sigmoid(model.roi_heads.mask_head!.forward(pooled)) }),
  };
}

/**
 * Trace a head graph for a pyramid of these level shapes: inputs are the
 * pooler's levels (named as the dense graph's outputs), `rois_<level>`
 * [rows, 4] per level and `batch_index` [rows] (int32).
 */
export function traceHead(model: GeneralizedRCNN, head: HeadGraph, levelShapes: readonly (readonly number[])[]): OnnxGraph {
  const pooler = head.pooler;
  const features = new Map(pooler.levels.map((l, i) => [l.name, tf.zeros(levelShapes[i] as number[])]));
  const rois = pooler.levels.map(() => tf.zeros([head.rows, 4]));
  const index = tf.zeros([head.rows], 'int32');
  try {
    const inputs = [...pooler.levels.map((l) => ({ name: l.name, tensor: features.get(l.name)! })), ...pooler.levels.map((l, i) => ({ name: `rois_${l.name}`, tensor: rois[i]! })), { name: 'batch_index', tensor: index }];
    const { graph, outputs } = traceGraph(() => head.stage(pooler.forwardOnLevels(features, rois, index)), inputs, { name: head.name, model });
    for (const t of Object.values(outputs)) t.dispose();
    return graph;
  } finally {
    tf.dispose([...features.values(), ...rois, index]);
  }
}
