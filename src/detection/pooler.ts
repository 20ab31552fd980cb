import { tf, type Tensor } from '../engine/tf.js';
import type { FeatureMaps } from '../backbone/simple-feature-pyramid.js';
import { roiAlign, roiAlignBoxes } from '../engine/ops/roi-align.js';
import { gatherRows } from '../engine/ops/gather.js';
import { boxArea, numBoxes } from '../structures/boxes.js';

/**
 * detectron2's ROIPooler over several pyramid levels: each box goes to level
 * floor(4 + log2(sqrt(area) / 224 + 1e-8)), clamped to the available
 * levels, and is ROIAligned there (ROIAlignV2: aligned, adaptive sampling).
 */
export class MultiLevelRoiPooler {
  constructor(
    readonly levels: { name: string; stride: number }[],
    readonly outputSize: number,
    readonly samplingRatio: number,
    readonly canonicalSize = 224,
    readonly canonicalLevel = 4,
  ) {}

  /** Level index (into `levels`) of each box. */
  assignLevels(boxes: Float32Array): Int32Array {
    const minL = Math.round(Math.log2(this.levels[0]!.stride));
    const maxL = Math.round(Math.log2(this.levels[this.levels.length - 1]!.stride));
    const n = numBoxes(boxes);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const area = boxArea(boxes, i);
      const lvl = Math.floor(this.canonicalLevel + Math.log2(Math.sqrt(Math.max(area, 0)) / this.canonicalSize + 1e-8));
      out[i] = Math.min(Math.max(lvl, minL), maxL) - minL;
    }
    return out;
  }

  /** Pool boxes (with their batch index) to [K, os, os, C], in input order. */
  forward(features: FeatureMaps, boxes: Float32Array, batchIndex: Int32Array): Tensor {
    const n = batchIndex.length;
    const lvl = this.assignLevels(boxes);
    const parts: Tensor[] = [];
    const order: number[] = [];
    this.levels.forEach((l, li) => {
      const idx: number[] = [];
      for (let i = 0; i < n; i++) if (lvl[i] === li) idx.push(i);
      if (idx.length === 0) return;
      const b = new Float32Array(idx.length * 4);
      idx.forEach((i, k) => b.set(boxes.subarray(i * 4, i * 4 + 4), k * 4));
      parts.push(roiAlign(features.get(l.name)!, b, idx.map((i) => batchIndex[i]!), { outputSize: this.outputSize, spatialScale: 1 / l.stride, samplingRatio: this.samplingRatio, aligned: true }));
      order.push(...idx);
    });
    if (parts.length === 0) return tf.zeros([0, this.outputSize, this.outputSize, features.get(this.levels[0]!.name)!.shape[3]!]);
    const pooled = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
    // Restore input order.
    const inverse = new Int32Array(n);
    order.forEach((orig, pos) => (inverse[orig] = pos));
    return gatherRows(pooled, tf.tensor1d(inverse, 'int32'));
  }

  /**
   * The boxes as one [rows, 4] array per level for `forwardOnLevels`: each
   * box in its own row of the level it is assigned to, and in every other
   * level's array (and in the rows beyond the boxes) a box far outside
   * every map, which pools to exactly zero. `rows` ≥ the number of boxes.
   */
  levelRows(boxes: Float32Array, batchIndex: Int32Array, rows: number): { levelBoxes: Float32Array[]; batchIndex: Int32Array } {
    const n = batchIndex.length;
    if (rows < n) throw new Error(`levelRows: ${n} boxes do not fit ${rows} rows`);
    const lvl = this.assignLevels(boxes);
    const levelBoxes = this.levels.map(() => new Float32Array(rows * 4).fill(OUTSIDE));
    for (let i = 0; i < n; i++) levelBoxes[lvl[i]!]!.set(boxes.subarray(i * 4, i * 4 + 4), i * 4);
    const index = new Int32Array(rows);
    index.set(batchIndex);
    return { levelBoxes, batchIndex: index };
  }

  /**
   * Pooling with the level assignment made on the host (`levelRows`): the
   * sum over levels of each level's ROIAlign of its rows, [rows, os, os, C].
   * Every row is non-zero on one level at most, so the sum is exact. This is
   * the form the pooler takes in a traced graph (boxes as inputs).
   */
  forwardOnLevels(features: FeatureMaps, levelBoxes: Tensor[], batchIndex: Tensor): Tensor {
    return tf.tidy(() => {
      let sum: Tensor | undefined;
      this.levels.forEach((l, li) => {
        const p = roiAlignBoxes(features.get(l.name)!, levelBoxes[li]!, batchIndex, { outputSize: this.outputSize, spatialScale: 1 / l.stride, samplingRatio: this.samplingRatio, aligned: true });
        sum = sum ? tf.add(sum, p) : p;
      });
      return sum!;
    });
  }
}

/** A box coordinate far outside any feature map: ROIAlign samples nothing there (torchvision and ONNX alike). */
const OUTSIDE = -1e4;
