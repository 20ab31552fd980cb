import { numBoxes, type BoxArray } from '../structures/boxes.js';

/** detectron2's clamp on dw, dh before exp: log(1000 / 16). */
export const SCALE_CLAMP = Math.log(1000 / 16);

/**
 * Box2BoxTransform: deltas (dx, dy, dw, dh) between a source box and a
 * target box, scaled by per-coordinate weights (wx, wy, ww, wh).
 */
export class BoxCoder {
  constructor(readonly weights: readonly [number, number, number, number] = [1, 1, 1, 1]) {}

  /** Regression targets [N*4] that map `src` onto `dst` (both XYXY, N boxes). */
  encode(src: BoxArray, dst: BoxArray): Float32Array {
    const [wx, wy, ww, wh] = this.weights;
    const n = numBoxes(src);
    const out = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const sw = src[i * 4 + 2]! - src[i * 4]!;
      const sh = src[i * 4 + 3]! - src[i * 4 + 1]!;
      const sx = src[i * 4]! + 0.5 * sw;
      const sy = src[i * 4 + 1]! + 0.5 * sh;
      const tw = dst[i * 4 + 2]! - dst[i * 4]!;
      const th = dst[i * 4 + 3]! - dst[i * 4 + 1]!;
      const tx = dst[i * 4]! + 0.5 * tw;
      const ty = dst[i * 4 + 1]! + 0.5 * th;
      out[i * 4] = (wx * (tx - sx)) / sw;
      out[i * 4 + 1] = (wy * (ty - sy)) / sh;
      out[i * 4 + 2] = ww * Math.log(tw / sw);
      out[i * 4 + 3] = wh * Math.log(th / sh);
    }
    return out;
  }

  /** Apply deltas [N*4] to boxes [N*4] (dw, dh clamped). */
  decode(deltas: ArrayLike<number>, boxes: BoxArray): BoxArray {
    const [wx, wy, ww, wh] = this.weights;
    const n = numBoxes(boxes);
    const out = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const w = boxes[i * 4 + 2]! - boxes[i * 4]!;
      const h = boxes[i * 4 + 3]! - boxes[i * 4 + 1]!;
      const cx = boxes[i * 4]! + 0.5 * w;
      const cy = boxes[i * 4 + 1]! + 0.5 * h;
      const dx = deltas[i * 4]! / wx;
      const dy = deltas[i * 4 + 1]! / wy;
      const dw = Math.min(deltas[i * 4 + 2]! / ww, SCALE_CLAMP);
      const dh = Math.min(deltas[i * 4 + 3]! / wh, SCALE_CLAMP);
      const pcx = dx * w + cx;
      const pcy = dy * h + cy;
      const pw = Math.exp(dw) * w;
      const ph = Math.exp(dh) * h;
      out[i * 4] = pcx - 0.5 * pw;
      out[i * 4 + 1] = pcy - 0.5 * ph;
      out[i * 4 + 2] = pcx + 0.5 * pw;
      out[i * 4 + 3] = pcy + 0.5 * ph;
    }
    return out;
  }
}
