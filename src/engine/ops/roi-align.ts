import { tf, type Tensor } from '../tf.js';
import { batchMatMul } from './dense.js';
import { gatherRows } from './gather.js';
import { vjp } from './activation-checkpoint.js';
import { withGradient } from './custom-grad.js';
import { compositeOp } from '../tracing.js';

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

type AxisWeights = ReturnType<typeof roiAxisWeights>;

/** ROIs per group: boxes are sorted by crop size and padded only to their group's largest crop. */
const GROUP = 64;

/**
 * ROIAlign (torchvision.ops.roi_align semantics) over NHWC features
 * [B, H, W, C] for boxes (x1, y1, x2, y2) in input coordinates, each with its
 * batch index. Bilinear sampling averaged per bin is separable, so a box is
 * Ay · crop · Axᵀ with small interpolation matrices over the crop it touches.
 * Boxes go in groups of similar crop size: per group one gather of the
 * (zero-weight padded) crops and two batched matmuls — exact, differentiable
 * with respect to the features on every backend (tfjs' cropAndResize has no
 * gradient). Grouping keeps memory near the sum of the crops: padding every
 * crop to the largest one cost 2 GB at 512 training ROIs on a stride-4 map.
 * The whole op is one custom-gradient step that keeps only the features: a
 * gradient tape would otherwise hold every group's crops (~0.5 GB at 512
 * ROIs) until the backward pass ends. The backward pass redoes one group at
 * a time and sums the groups' feature gradients into one tensor (tfjs would
 * keep each group's full-size gradient until the end: 64 MB apiece on a
 * stride-4 map at 1024²).
 * Returns [K, os, os, C].
 */
export function roiAlign(features: Tensor, boxes: Float32Array, batchIndex: ArrayLike<number>, opts: RoiAlignOptions): Tensor {
  const [, h, w, c] = features.shape as [number, number, number, number];
  const os = opts.outputSize;
  const k = batchIndex.length;
  if (k === 0) return tf.zeros([0, os, os, c]);
  const off = opts.aligned ? 0.5 : 0;
  const s = opts.spatialScale;
  const ys: AxisWeights[] = [];
  const xs: AxisWeights[] = [];
  for (let i = 0; i < k; i++) {
    ys.push(roiAxisWeights(boxes[i * 4 + 1]! * s - off, boxes[i * 4 + 3]! * s - off, h, opts));
    xs.push(roiAxisWeights(boxes[i * 4]! * s - off, boxes[i * 4 + 2]! * s - off, w, opts));
  }
  const identity = Array.from({ length: k }, (_, i) => i);
  const area = (i: number) => (ys[i]!.hi - ys[i]!.lo) * (xs[i]!.hi - xs[i]!.lo);
  const order = k <= GROUP ? identity : identity.sort((a, b) => area(a) - area(b));
  const groups: number[][] = [];
  for (let g = 0; g < k; g += GROUP) groups.push(order.slice(g, g + GROUP));
  const forward = (f: Tensor): Tensor =>
    tf.tidy(() => {
      if (groups.length === 1) return alignGroup(f, ys, xs, batchIndex, groups[0]!, os);
      const parts = groups.map((members) => alignGroup(f, ys, xs, batchIndex, members, os));
      // Back to the callers' order.
      const inverse = new Int32Array(k);
      order.forEach((i, pos) => (inverse[i] = pos));
      return gatherRows(tf.concat(parts, 0).reshape([k, -1]), inverse).reshape([k, os, os, c]);
    });
  return withGradient([features], ([f], save) => {
    save([f!]);
    return {
      value: forward(f!),
      gradFunc: (dy, [fs]) => {
        let acc: Tensor | undefined;
        for (const members of groups) {
          const dyGroup = gatherRows(dy.reshape([k, -1]), Int32Array.from(members)).reshape([members.length, os, os, c]);
          const [part] = vjp(() => alignGroup(fs!, ys, xs, batchIndex, members, os), [fs!], dyGroup);
          dyGroup.dispose();
          if (acc === undefined) acc = part!;
          else {
            const sum = tf.add(acc, part!);
            acc.dispose();
            part!.dispose();
            acc = sum;
          }
        }
        return [acc!];
      },
    };
  });
}

/** ROIAlign of the boxes `members` (indices into ys/xs/batchIndex), in that order. */
function alignGroup(features: Tensor, ys: AxisWeights[], xs: AxisWeights[], batchIndex: ArrayLike<number>, members: number[], os: number): Tensor {
  const [, h, w, c] = features.shape as [number, number, number, number];
  const k = members.length;
  let hc = 1;
  let wc = 1;
  for (const i of members) {
    hc = Math.max(hc, ys[i]!.hi - ys[i]!.lo);
    wc = Math.max(wc, xs[i]!.hi - xs[i]!.lo);
  }
  // Crops padded to (hc, wc): padding rows/cols point at pixel 0 with weight 0.
  const ay = new Float32Array(k * os * hc);
  const ax = new Float32Array(k * os * wc);
  const rows = new Int32Array(k * hc * wc);
  members.forEach((m, i) => {
    const y = ys[m]!;
    const x = xs[m]!;
    const nh = y.hi - y.lo;
    const nw = x.hi - x.lo;
    if (nh <= 0 || nw <= 0) return; // entirely outside: all-zero weights
    for (let p = 0; p < os; p++) {
      ay.set(y.weights.subarray(p * nh, (p + 1) * nh), (i * os + p) * hc);
      ax.set(x.weights.subarray(p * nw, (p + 1) * nw), (i * os + p) * wc);
    }
    const b = batchIndex[m]!;
    for (let r = 0; r < nh; r++) for (let q = 0; q < nw; q++) rows[(i * hc + r) * wc + q] = (b * h + y.lo + r) * w + x.lo + q;
  });
  return tf.tidy(() => {
    const crops = gatherRows(features.reshape([-1, c]), rows).reshape([k, hc, wc * c]);
    // Along y: [K, os, hc] x [K, hc, wc*C] → [K, os, wc, C]
    const alongY = batchMatMul(tf.tensor3d(ay, [k, os, hc]), crops).reshape([k, os, wc, c]);
    // Along x: [K, os, wc] x [K, wc, os*C] → [K, os(x), os(y), C]
    const t = alongY.transpose([0, 2, 1, 3]).reshape([k, wc, os * c]);
    return batchMatMul(tf.tensor3d(ax, [k, os, wc]), t).reshape([k, os, os, c]).transpose([0, 2, 1, 3]);
  });
}

/**
 * `roiAlign` with the boxes [K, 4] and batch indices [K] (int32) as
 * tensors: the form a traced graph takes boxes in. On tfjs the boxes are
 * read to the host and pooled as above; in an ONNX graph this is the
 * standard RoiAlign operator (average mode; `half_pixel` coordinates are
 * torchvision's aligned=True, the adaptive sampling ratio is the same
 * ceil(roi / output)), between transposes to NCHW and back. Forward only.
 */
export function roiAlignBoxes(features: Tensor, boxes: Tensor, batchIndex: Tensor, opts: RoiAlignOptions): Tensor {
  return compositeOp(
    'RoiAlign',
    [features, boxes, batchIndex],
    { ...opts },
    () => roiAlign(features, boxes.dataSync() as Float32Array, batchIndex.dataSync(), opts),
    (e) => {
      const [nchw] = e.node('Transpose', [e.input(0)], { perm: [0, 3, 1, 2] });
      const [index] = e.node('Cast', [e.input(2)], { to: 7 }); // int64
      const [pooled] = e.node('RoiAlign', [nchw!, e.input(1), index!], {
        mode: 'avg',
        output_height: opts.outputSize,
        output_width: opts.outputSize,
        sampling_ratio: opts.samplingRatio,
        spatial_scale: { float: opts.spatialScale },
        coordinate_transformation_mode: opts.aligned ? 'half_pixel' : 'output_half_pixel',
      });
      e.node('Transpose', [pooled!], { perm: [0, 2, 3, 1] }, [e.output()]);
    },
  );
}
