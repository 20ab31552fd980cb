import { tf, type Tensor } from '../engine/tf.js';
import { gatherRows } from '../engine/ops/gather.js';
import type { NmsConfig, TestConfig } from '../config/schema.js';
import { clipBoxes, numBoxes, selectBoxes, type BoxArray } from '../structures/boxes.js';
import type { Detections } from '../structures/instances.js';
import { BoxCoder } from './box-coder.js';
import { batchedNms } from './nms.js';
import { batchedSoftNms } from './soft-nms.js';
import { smoothL1Sum, softmaxCrossEntropyMean } from './losses.js';

/** Sampled proposals of one image with their training labels. */
export interface LabeledProposals {
  boxes: BoxArray;
  /** Class index per proposal; numClasses = background. */
  classes: Int32Array;
  /** Matched GT box per proposal (meaningful for foreground). */
  gtBoxes: BoxArray;
  /** Matched GT index per proposal. */
  gtIndex: Int32Array;
}

/**
 * detectron2's FastRCNNOutputLayers losses: softmax cross-entropy over all
 * sampled proposals, and L1 box regression on foreground proposals (the
 * deltas of the GT class, or the agnostic ones), normalised by the number
 * of sampled proposals.
 */
export function fastRcnnLosses(scores: Tensor, deltas: Tensor, labeled: LabeledProposals[], numClasses: number, coder: BoxCoder, classAgnostic: boolean, beta: number): { cls: Tensor; box: Tensor } {
  const classes = Int32Array.from(labeled.flatMap((l) => Array.from(l.classes)));
  const cls = softmaxCrossEntropyMean(scores, classes);
  const fg: number[] = [];
  const fgClass: number[] = [];
  const src: number[] = [];
  const dst: number[] = [];
  let off = 0;
  for (const l of labeled) {
    for (let i = 0; i < l.classes.length; i++) {
      const c = l.classes[i]!;
      if (c >= 0 && c < numClasses) {
        fg.push(off + i);
        fgClass.push(c);
        src.push(...l.boxes.subarray(i * 4, i * 4 + 4));
        dst.push(...l.gtBoxes.subarray(i * 4, i * 4 + 4));
      }
    }
    off += l.classes.length;
  }
  const total = Math.max(classes.length, 1);
  if (fg.length === 0) return { cls, box: tf.mul(tf.sum(deltas), 0) };
  const targets = coder.encode(Float32Array.from(src), Float32Array.from(dst));
  const r = deltas.shape[0]!;
  let picked: Tensor;
  if (classAgnostic) picked = gatherRows(deltas, tf.tensor1d(fg, 'int32'));
  else picked = gatherRows(deltas.reshape([r * numClasses, 4]), tf.tensor1d(fg.map((i, k) => i * numClasses + fgClass[k]!), 'int32'));
  const box = tf.div(smoothL1Sum(picked, tf.tensor2d(targets, [fg.length, 4]), beta), total);
  return { cls, box };
}

/** Per-class boxes [R, K, 4] (flattened) decoded from deltas; agnostic deltas are shared by all classes. */
export function decodePerClass(deltas: Float32Array, proposals: BoxArray, numClasses: number, coder: BoxCoder, classAgnostic: boolean): Float32Array {
  const r = numBoxes(proposals);
  if (classAgnostic) {
    const one = coder.decode(deltas, proposals);
    const out = new Float32Array(r * numClasses * 4);
    for (let i = 0; i < r; i++) for (let c = 0; c < numClasses; c++) out.set(one.subarray(i * 4, i * 4 + 4), (i * numClasses + c) * 4);
    return out;
  }
  const rep = new Float32Array(r * numClasses * 4);
  for (let i = 0; i < r; i++) for (let c = 0; c < numClasses; c++) rep.set(proposals.subarray(i * 4, i * 4 + 4), (i * numClasses + c) * 4);
  return coder.decode(deltas, rep);
}

/**
 * detectron2's fast_rcnn_inference_single_image (with Soft-NMS as an
 * option): every (box, class) pair scoring above the threshold is a
 * candidate; per-class NMS or Soft-NMS; the top `detections_per_image`
 * (0 = all) by score.
 */
export function fastRcnnInference(probs: Float32Array, boxesPerClass: Float32Array, numClasses: number, imageSize: [number, number], test: TestConfig): Detections {
  const r = probs.length / (numClasses + 1);
  clipBoxes(boxesPerClass, imageSize[0], imageSize[1]);
  const cand: number[] = [];
  const candScores: number[] = [];
  const candClasses: number[] = [];
  for (let i = 0; i < r; i++) {
    for (let c = 0; c < numClasses; c++) {
      const s = probs[i * (numClasses + 1) + c]!;
      if (s > test.score_thresh) {
        cand.push(i * numClasses + c);
        candScores.push(s);
        candClasses.push(c);
      }
    }
  }
  const boxes = selectBoxes(boxesPerClass, cand);
  const { keep, scores } = applyNms(boxes, candScores, candClasses, test.nms);
  const limit = test.detections_per_image > 0 ? Math.min(test.detections_per_image, keep.length) : keep.length;
  // NMS returns kept boxes in descending score order already.
  const order = keep.map((k, i) => ({ k, s: scores[i]! }));
  order.sort((a, b) => b.s - a.s);
  const top = order.slice(0, limit);
  return {
    boxes: selectBoxes(boxes, top.map((t) => t.k)),
    scores: Float32Array.from(top, (t) => t.s),
    classes: Int32Array.from(top, (t) => candClasses[t.k]!),
  };
}

/** Per-class NMS or Soft-NMS: kept candidate indices and their (possibly decayed) scores. */
export function applyNms(boxes: BoxArray, scores: number[], classes: number[], cfg: NmsConfig): { keep: number[]; scores: number[] } {
  if (cfg.method === 'hard') {
    const keep = batchedNms(boxes, scores, classes, cfg.iou_threshold);
    return { keep, scores: keep.map((k) => scores[k]!) };
  }
  const r = batchedSoftNms(boxes, scores, classes, {
    method: cfg.method,
    iouThreshold: cfg.iou_threshold,
    sigma: cfg.sigma,
    minScore: cfg.min_score,
    variant: cfg.soft_variant,
    boxOffset: cfg.box_offset,
  });
  return { keep: r.keep, scores: Array.from(r.scores) };
}
