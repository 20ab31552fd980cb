import { tf, type Tensor } from '../../engine/tf.js';
import { traceGraph } from '../../engine/onnx/tracer.js';
import type { OrtGraph, OrtOptions } from '../../engine/onnx/session.js';
import type { SegmenterRunConfig } from '../../config/schema.js';
import type { TraceSource } from '../trace-job.js';
import type { OnnxGraph } from '../../engine/onnx/proto.js';
import type { Mask2Former } from '../../segmentation/mask2former.js';
import { hostCropScores, type CropScores } from '../../segmentation/sliding-window.js';
import { GraphCache } from '../graph-cache.js';
import { segmenterStages } from './stages.js';

/**
 * Runs a segmenter's dense stage — a normalised crop → per-pixel class
 * scores — on one engine. Resizing, sliding windows, stitching and the
 * arg-max are the model's host code, shared by every engine.
 */
export interface SegmenterEngine {
  readonly model: Mask2Former;
  readonly cropScores: CropScores;
  dispose(): Promise<void>;
}

export function tfjsSegmenterEngine(model: Mask2Former): SegmenterEngine {
  const stages = segmenterStages(model);
  return { model, cropScores: hostCropScores((crop) => stages.scores(crop)), dispose: async () => {} };
}

/**
 * The segmenter's graph — crop [1, h, w, 3] → scores [1, h, w, K] — traced
 * at the crop's shape. With `queries`, the last decoder layer's
 * `class_logits` [1, Q, K+1] (no-object last) and `mask_logits`
 * [1, Q, h/4, w/4] are outputs too (exported graphs give them).
 */
export function traceSegmenterScores(model: Mask2Former, crop: Tensor, opts: { queries?: boolean } = {}): OnnxGraph {
  const stages = segmenterStages(model);
  const stage = (): Record<string, Tensor> => {
    if (!opts.queries) return { scores: stages.scores(crop) };
    const { scores, queries } = model.semanticOutputs(crop, { keepQueries: true });
    return { scores, class_logits: queries!.logits, mask_logits: queries!.masks };
  };
  const { graph, outputs } = traceGraph(stage, [{ name: 'crop', tensor: crop }], { name: 'segmenter_scores', model });
  for (const t of Object.values(outputs)) t.dispose();
  return graph;
}

/**
 * The segmenter's dense stage on onnxruntime: one graph per crop shape
 * (whole-image mode sees one per image size, sliding windows one or two),
 * traced once into `graphDir` and reused from there. The deformable
 * attention of the adapter and the pixel decoder is in the graph as row
 * gathers of the value table (ONNX Gather), as the model code computes it.
 */
export class OnnxSegmenterEngine implements SegmenterEngine {
  private readonly graphs: GraphCache;

  /**
   * With `source` (the model's config and weights file) and the wasm
   * backend, graphs are traced in a worker thread, whose wasm heap is freed
   * when it ends; otherwise on this thread, from `model` as it is.
   */
  constructor(
    readonly model: Mask2Former,
    graphDir: string,
    ort: OrtOptions = {},
    private readonly source?: TraceSource<SegmenterRunConfig>,
  ) {
    this.graphs = new GraphCache(graphDir, ort);
  }

  private graphFor(shape: number[]): Promise<OrtGraph> {
    const name = `segmenter_scores_${shape.join('x')}`;
    const trace = () => {
      const zeros = tf.zeros(shape);
      try {
        return traceSegmenterScores(this.model, zeros);
      } finally {
        zeros.dispose();
      }
    };
    return this.graphs.get(name, trace, this.source && { task: 'semantic', ...this.source, graph: { kind: 'segmenter_scores', shape } });
  }

  readonly cropScores: CropScores = async (crop) => {
    const g = await this.graphFor([...crop.shape]);
    const out = await g.run({ crop: { data: crop.dataSync() as Float32Array, shape: crop.shape } });
    const s = out.scores!;
    return { data: s.data as Float32Array, shape: s.shape as [number, number, number, number] };
  };

  dispose(): Promise<void> {
    return this.graphs.dispose();
  }
}
