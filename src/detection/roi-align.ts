import { tf, type Tensor } from '../engine/tf.js';
import { dense } from '../engine/ops/dense.js';

export interface RoiAlignOptions {
  outputSize: number;
  /** Feature stride reciprocal: box coordinates are multiplied by this. */
  spatialScale: number;
  /** Samples per bin side; 0 = adaptive ceil(roi / output). */
  samplingRatio: number;
  /** Shift boxes by -0.5 pixel (ROIAlignV2; detectron2's default for ViTDet). */
  aligned: boolean;
}

/**
 * One axis of ROIAlign as a matrix: row p (a bin) holds the bilinear
 * weights of that bin's sample points over the input rows/cols, averaged
 * over the samples (torchvision's semantics: samples beyond [-1, size]
 * contribute zero, coordinates clamp at 0, the last index clamps the upper
 * neighbour). Returns the weights restricted to the touched range [lo, hi).
 */
export function roiAxisWeights(start: number, end: number, size: number, opts: RoiAlignOptions): { weights: Float32Array; lo: number; hi: number } {
  const os = opts.outputSize;
  let len = end - start;
  if (!opts.aligned) len = Math.max(len, 1);
  const bin = len / os;
  const grid = opts.samplingRatio > 0 ? opts.samplingRatio : Math.ceil(len / os);
  const full = new Float32Array(os * size);
  let lo = size;
  let hi = 0;
  for (let p = 0; p < os; p++) {
    for (let g = 0; g < grid; g++) {
      let v = start + p * bin + ((g + 0.5) * bin) / grid;
      if (v < -1 || v > size) continue;
      if (v < 0) v = 0;
      let low = Math.floor(v);
      let high: number;
      if (low >= size - 1) {
        high = low = size - 1;
        v = low;
      } else {
        high = low + 1;
      }
      const l = v - low;
      full[p * size + low]! += (1 - l) / grid;
      full[p * size + high]! += l / grid;
      lo = Math.min(lo, low);
      hi = Math.max(hi, high + 1);
    }
  }
  if (hi <= lo) return { weights: new Float32Array(0), lo: 0, hi: 0 };
  const n = hi - lo;
  const weights = new Float32Array(os * n);
  for (let p = 0; p < os; p++) weights.set(full.subarray(p * size + lo, p * size + hi), p * n);
  return { weights, lo, hi };
}

/**
 * ROIAlign (torchvision.ops.roi_align semantics) over NHWC features
 * [B, H, W, C] for boxes (x1, y1, x2, y2) in input coordinates, each with its
 * batch index. Bilinear sampling averaged per bin is separable, so each box
 * is two small matmuls over the crop it touches: exact, differentiable with
 * respect to the features on every backend (tfjs' cropAndResize has no
 * gradient), and memory-light. Returns [K, os, os, C].
 */
export function roiAlign(features: Tensor, boxes: Float32Array, batchIndex: ArrayLike<number>, opts: RoiAlignOptions): Tensor {
  const [, h, w, c] = features.shape as [number, number, number, number];
  const os = opts.outputSize;
  const k = batchIndex.length;
  if (k === 0) return tf.zeros([0, os, os, c]);
  const off = opts.aligned ? 0.5 : 0;
  const s = opts.spatialScale;
  const outs: Tensor[] = [];
  for (let i = 0; i < k; i++) {
    const ys = roiAxisWeights(boxes[i * 4 + 1]! * s - off, boxes[i * 4 + 3]! * s - off, h, opts);
    const xs = roiAxisWeights(boxes[i * 4]! * s - off, boxes[i * 4 + 2]! * s - off, w, opts);
    if (ys.hi === 0 || xs.hi === 0) {
      outs.push(tf.zeros([os, os, c]));
      continue;
    }
    const hc = ys.hi - ys.lo;
    const wc = xs.hi - xs.lo;
    const crop = features.slice([batchIndex[i]!, ys.lo, xs.lo, 0], [1, hc, wc, c]).reshape([hc, wc * c]);
    const rows = dense(tf.tensor2d(ys.weights, [os, hc]), crop).reshape([os, wc, c]).transpose([1, 0, 2]).reshape([wc, os * c]);
    const cols = dense(tf.tensor2d(xs.weights, [os, wc]), rows).reshape([os, os, c]).transpose([1, 0, 2]);
    outs.push(cols);
  }
  return tf.stack(outs);
}
