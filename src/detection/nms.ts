import { selectBoxes, type BoxArray } from '../structures/boxes.js';

/** Indices sorted by descending score, ties by lower index (a stable sort, as torchvision behaves). */
export function argsortDesc(scores: ArrayLike<number>, idx?: number[]): number[] {
  const order = idx ? [...idx] : Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order;
}

/**
 * Greedy NMS exactly as torchvision.ops.nms: no +1 in areas, a box is
 * suppressed when its IoU with a kept box is strictly greater than the
 * threshold; returns kept indices in descending-score order.
 */
export function nms(boxes: BoxArray, scores: ArrayLike<number>, iouThreshold: number): number[] {
  const order = argsortDesc(scores);
  const n = order.length;
  const suppressed = new Uint8Array(scores.length);
  const keep: number[] = [];
  // Float32 arithmetic, as the CPU kernel computes on float tensors.
  const f = Math.fround;
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    if (suppressed[i]) continue;
    keep.push(i);
    const ix1 = boxes[i * 4]!;
    const iy1 = boxes[i * 4 + 1]!;
    const ix2 = boxes[i * 4 + 2]!;
    const iy2 = boxes[i * 4 + 3]!;
    const iarea = f(f(ix2 - ix1) * f(iy2 - iy1));
    for (let b = a + 1; b < n; b++) {
      const j = order[b]!;
      if (suppressed[j]) continue;
      const w = Math.max(0, f(Math.min(ix2, boxes[j * 4 + 2]!) - Math.max(ix1, boxes[j * 4]!)));
      const h = Math.max(0, f(Math.min(iy2, boxes[j * 4 + 3]!) - Math.max(iy1, boxes[j * 4 + 1]!)));
      const inter = f(w * h);
      const jarea = f(f(boxes[j * 4 + 2]! - boxes[j * 4]!) * f(boxes[j * 4 + 3]! - boxes[j * 4 + 1]!));
      const iou = f(inter / f(f(iarea + jarea) - inter));
      if (iou > iouThreshold) suppressed[j] = 1;
    }
  }
  return keep;
}

/**
 * Boxes offset by class so that boxes of different classes never overlap
 * (torchvision's batched_nms trick): each coordinate + class * (max + 1).
 */
export function offsetByClass(boxes: BoxArray, classes: ArrayLike<number>, extra = 1): BoxArray {
  let max = 0;
  for (const v of boxes) if (v > max) max = v;
  const offset = max + extra;
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < classes.length; i++) for (let k = 0; k < 4; k++) out[i * 4 + k] = boxes[i * 4 + k]! + classes[i]! * offset;
  return out;
}

/**
 * Above this many boxes torchvision's batched_nms (on CPU) runs NMS class by
 * class instead of on offset boxes: the cost is then the sum of the squared
 * class sizes, not the square of the total.
 */
export const BATCHED_NMS_PER_CLASS_ABOVE = 1000;

/** Per-class NMS (torchvision.ops.batched_nms): kept indices in descending-score order. */
export function batchedNms(boxes: BoxArray, scores: ArrayLike<number>, classes: ArrayLike<number>, iouThreshold: number): number[] {
  if (scores.length === 0) return [];
  if (scores.length <= BATCHED_NMS_PER_CLASS_ABOVE) return nms(offsetByClass(boxes, classes), scores, iouThreshold);
  const keep: number[] = [];
  for (const members of groupByClass(classes)) {
    const sub = nms(selectBoxes(boxes, members), members.map((i) => scores[i]!), iouThreshold);
    for (const k of sub) keep.push(members[k]!);
  }
  return argsortDesc(scores, keep);
}

/** Indices of each class, classes in ascending order, indices ascending within a class. */
export function groupByClass(classes: ArrayLike<number>): number[][] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i]!;
    let list = byClass.get(c);
    if (!list) byClass.set(c, (list = []));
    list.push(i);
  }
  return [...byClass.keys()].sort((a, b) => a - b).map((c) => byClass.get(c)!);
}
