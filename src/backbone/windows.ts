import { tf, type Tensor } from '../engine/tf.js';

/**
 * ViTDet's window partition: zero-pad [B, H, W, C] at the bottom/right to
 * multiples of `ws`, then cut into [B * nWinH * nWinW, ws, ws, C], windows
 * ordered batch-major, then row, then column. The padding is not masked in
 * attention (as detectron2).
 */
export function windowPartition(x: Tensor, ws: number): { windows: Tensor; padded: [number, number] } {
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const ph = (ws - (h % ws)) % ws;
  const pw = (ws - (w % ws)) % ws;
  const xp = ph > 0 || pw > 0 ? tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]]) : x;
  const hp = h + ph;
  const wp = w + pw;
  const windows = xp
    .reshape([b, hp / ws, ws, wp / ws, ws, c])
    .transpose([0, 1, 3, 2, 4, 5])
    .reshape([b * (hp / ws) * (wp / ws), ws, ws, c]);
  return { windows, padded: [hp, wp] };
}

/** Inverse of `windowPartition`, cropping the padding away. */
export function windowUnpartition(windows: Tensor, ws: number, padded: [number, number], hw: [number, number]): Tensor {
  const [hp, wp] = padded;
  const [h, w] = hw;
  const c = windows.shape[3]!;
  const b = windows.shape[0]! / ((hp / ws) * (wp / ws));
  let x = windows
    .reshape([b, hp / ws, wp / ws, ws, ws, c])
    .transpose([0, 1, 3, 2, 4, 5])
    .reshape([b, hp, wp, c]);
  if (hp > h || wp > w) x = tf.slice(x, [0, 0, 0, 0], [b, h, w, c]);
  return x;
}
