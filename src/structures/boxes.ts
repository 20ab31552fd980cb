import { concatFloat32 } from '../util/float-arrays.js';

/**
 * Box geometry on host arrays. Boxes are XYXY (x1, y1, x2, y2) in a flat
 * Float32Array of N*4; widths are x2 - x1 (no +1), as detectron2.
 */

export type BoxArray = Float32Array;

export function numBoxes(b: BoxArray): number {
  return b.length / 4;
}

export function boxArea(b: BoxArray, i: number): number {
  return (b[i * 4 + 2]! - b[i * 4]!) * (b[i * 4 + 3]! - b[i * 4 + 1]!);
}

/** Clip every box to [0, w] x [0, h] in place. */
export function clipBoxes(b: BoxArray, h: number, w: number): BoxArray {
  for (let i = 0; i < b.length; i += 4) {
    b[i] = Math.min(Math.max(b[i]!, 0), w);
    b[i + 1] = Math.min(Math.max(b[i + 1]!, 0), h);
    b[i + 2] = Math.min(Math.max(b[i + 2]!, 0), w);
    b[i + 3] = Math.min(Math.max(b[i + 3]!, 0), h);
  }
  return b;
}

/** Indices of boxes wider and taller than `minSize`. */
export function nonEmpty(b: BoxArray, minSize = 0): number[] {
  const keep: number[] = [];
  for (let i = 0; i < numBoxes(b); i++) if (b[i * 4 + 2]! - b[i * 4]! > minSize && b[i * 4 + 3]! - b[i * 4 + 1]! > minSize) keep.push(i);
  return keep;
}

/** IoU matrix [N, M] (row-major) of two box sets; 0 where the union is empty. */
export function pairwiseIou(a: BoxArray, b: BoxArray): Float32Array {
  const n = numBoxes(a);
  const m = numBoxes(b);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const ax1 = a[i * 4]!;
    const ay1 = a[i * 4 + 1]!;
    const ax2 = a[i * 4 + 2]!;
    const ay2 = a[i * 4 + 3]!;
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    for (let j = 0; j < m; j++) {
      const iw = Math.min(ax2, b[j * 4 + 2]!) - Math.max(ax1, b[j * 4]!);
      if (iw <= 0) continue;
      const ih = Math.min(ay2, b[j * 4 + 3]!) - Math.max(ay1, b[j * 4 + 1]!);
      if (ih <= 0) continue;
      const inter = iw * ih;
      const areaB = (b[j * 4 + 2]! - b[j * 4]!) * (b[j * 4 + 3]! - b[j * 4 + 1]!);
      out[i * m + j] = inter / (areaA + areaB - inter);
    }
  }
  return out;
}

/** Rows `idx` of a box array. */
export function selectBoxes(b: BoxArray, idx: ArrayLike<number>): BoxArray {
  const out = new Float32Array(idx.length * 4);
  for (let k = 0; k < idx.length; k++) out.set(b.subarray(idx[k]! * 4, idx[k]! * 4 + 4), k * 4);
  return out;
}

export function concatBoxes(parts: BoxArray[]): BoxArray {
  return concatFloat32(parts);
}

/** XYXY → COCO [x, y, w, h]. */
export function toXywh(b: BoxArray, i: number): [number, number, number, number] {
  return [b[i * 4]!, b[i * 4 + 1]!, b[i * 4 + 2]! - b[i * 4]!, b[i * 4 + 3]! - b[i * 4 + 1]!];
}
