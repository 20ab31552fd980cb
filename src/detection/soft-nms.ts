import { selectBoxes, type BoxArray } from '../structures/boxes.js';
import { groupByClass, offsetByClass } from './nms.js';

export type SoftNmsMethod = 'hard' | 'linear' | 'gaussian';

export interface SoftNmsOptions {
  method: SoftNmsMethod;
  /** Overlap from which a box is decayed (linear, hard); unused by gaussian. */
  iouThreshold: number;
  /** Gaussian width: weight = exp(-iou² / sigma). */
  sigma: number;
  /** Boxes whose score decays below this are dropped. */
  minScore: number;
  /**
   * Which reference to follow, to the bit:
   * - 'mmcv' (EVA's detectron2 fork, mmdet): areas (x2-x1+offset)·(y2-y1+offset),
   *   decay when iou >= threshold, every later box checked against minScore;
   * - 'authors' (bharatsingh430/soft-nms): +1 areas, decay when iou > threshold,
   *   only overlapping boxes rescored and checked.
   */
  variant: 'mmcv' | 'authors';
  /** Box width offset for the mmcv variant (0 default; the authors' variant always uses 1). */
  boxOffset?: 0 | 1;
}

export interface SoftNmsResult {
  /** Indices into the input, in selection order. */
  keep: number[];
  /** The decayed scores of the kept boxes. */
  scores: Float32Array;
}

/**
 * Soft-NMS (Bodla et al.): repeatedly select the highest-scoring box (first
 * wins ties) and decay the scores of the others by their overlap with it
 * (linear: 1 - iou above the threshold; gaussian: exp(-iou²/sigma); hard: 0
 * above the threshold); boxes that fall below minScore are dropped by moving
 * the last live box into their slot. Float32 arithmetic, as both references.
 */
export function softNms(boxes: BoxArray, scores: ArrayLike<number>, opts: SoftNmsOptions): SoftNmsResult {
  const f = Math.fround;
  let n = scores.length;
  const authors = opts.variant === 'authors';
  const offset = authors ? 1 : (opts.boxOffset ?? 0);
  const x1 = new Float32Array(n);
  const y1 = new Float32Array(n);
  const x2 = new Float32Array(n);
  const y2 = new Float32Array(n);
  const sc = Float32Array.from(scores);
  const area = new Float32Array(n);
  const ind = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x1[i] = boxes[i * 4]!;
    y1[i] = boxes[i * 4 + 1]!;
    x2[i] = boxes[i * 4 + 2]!;
    y2[i] = boxes[i * 4 + 3]!;
    area[i] = f(f(f(x2[i]! - x1[i]!) + offset) * f(f(y2[i]! - y1[i]!) + offset));
    ind[i] = i;
  }
  const swap = (a: number, b: number) => {
    for (const arr of [x1, y1, x2, y2, sc, area] as Float32Array[]) {
      const t = arr[a]!;
      arr[a] = arr[b]!;
      arr[b] = t;
    }
    const t = ind[a]!;
    ind[a] = ind[b]!;
    ind[b] = t;
  };
  const moveLast = (pos: number) => {
    const last = n - 1;
    x1[pos] = x1[last]!;
    y1[pos] = y1[last]!;
    x2[pos] = x2[last]!;
    y2[pos] = y2[last]!;
    sc[pos] = sc[last]!;
    area[pos] = area[last]!;
    ind[pos] = ind[last]!;
    n--;
  };
  for (let i = 0; i < n; i++) {
    let maxPos = i;
    for (let p = i + 1; p < n; p++) if (sc[maxPos]! < sc[p]!) maxPos = p;
    swap(i, maxPos);
    const ix1 = x1[i]!;
    const iy1 = y1[i]!;
    const ix2 = x2[i]!;
    const iy2 = y2[i]!;
    const iarea = area[i]!;
    let pos = i + 1;
    while (pos < n) {
      let iw = f(f(Math.min(ix2, x2[pos]!) - Math.max(ix1, x1[pos]!)) + offset);
      let ih = f(f(Math.min(iy2, y2[pos]!) - Math.max(iy1, y1[pos]!)) + offset);
      if (authors && (iw <= 0 || ih <= 0)) {
        pos++;
        continue;
      }
      iw = Math.max(0, iw);
      ih = Math.max(0, ih);
      const inter = f(iw * ih);
      const ov = f(inter / f(f(iarea + area[pos]!) - inter));
      const over = authors ? ov > opts.iouThreshold : ov >= opts.iouThreshold;
      let weight = 1;
      if (opts.method === 'linear') weight = over ? f(1 - ov) : 1;
      else if (opts.method === 'hard') weight = over ? 0 : 1;
      else weight = f(Math.exp(-(ov * ov) / opts.sigma));
      sc[pos] = f(sc[pos]! * weight);
      if (sc[pos]! < opts.minScore) {
        moveLast(pos);
        continue;
      }
      pos++;
    }
  }
  return { keep: Array.from(ind.subarray(0, n)), scores: sc.slice(0, n) };
}

/**
 * Above this many boxes mmcv's batched_nms runs (Soft-)NMS class by class and
 * re-sorts the kept boxes by their updated scores, instead of one pass over
 * offset boxes: the cost is then the sum of the squared class sizes. EVA's
 * candidate set (every class x box pair above 0) is 80,000 boxes at 1000
 * proposals, where one pass took ~85 s (base Mask R-CNN ROI heads at 512²:
 * 114 s before, 29 s after).
 */
export const BATCHED_SOFT_NMS_PER_CLASS_ABOVE = 10_000;

/** Soft-NMS within each class (coordinate offsets, or class by class for many boxes, as mmcv's batched_nms). */
export function batchedSoftNms(boxes: BoxArray, scores: ArrayLike<number>, classes: ArrayLike<number>, opts: SoftNmsOptions): SoftNmsResult {
  if (scores.length === 0) return { keep: [], scores: new Float32Array(0) };
  if (scores.length <= BATCHED_SOFT_NMS_PER_CLASS_ABOVE) return softNms(offsetByClass(boxes, classes), scores, opts);
  const keep: number[] = [];
  const kept: number[] = [];
  for (const members of groupByClass(classes)) {
    const r = softNms(selectBoxes(boxes, members), Float32Array.from(members, (i) => scores[i]!), opts);
    r.keep.forEach((k, j) => {
      keep.push(members[k]!);
      kept.push(r.scores[j]!);
    });
  }
  // Descending updated score; ties keep class order, then selection order.
  const order = keep.map((_, j) => j).sort((a, b) => kept[b]! - kept[a]! || a - b);
  return { keep: order.map((j) => keep[j]!), scores: Float32Array.from(order, (j) => kept[j]!) };
}
