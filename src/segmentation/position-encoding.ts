import { tf, type Tensor } from '../engine/tf.js';

/**
 * DETR's normalised sine position encoding (as Mask2Former uses it) for an
 * (h, w) map without padding: y and x run 1..n, are normalised by n (+1e-6)
 * and scaled by 2π, divided by 10000^(2⌊k/2⌋/F), and interleaved sin/cos;
 * [pos_y, pos_x] concatenated → [h, w, 2F]. Returns an NHWC [1, h, w, 2F] tensor.
 */
export function sinePositionEncoding(h: number, w: number, numFeats: number, temperature = 10000): Tensor {
  const out = new Float32Array(h * w * 2 * numFeats);
  const scale = 2 * Math.PI;
  const eps = 1e-6;
  const dimT = Array.from({ length: numFeats }, (_, k) => temperature ** ((2 * Math.floor(k / 2)) / numFeats));
  for (let y = 0; y < h; y++) {
    const ye = ((y + 1) / (h + eps)) * scale;
    for (let x = 0; x < w; x++) {
      const xe = ((x + 1) / (w + eps)) * scale;
      const o = (y * w + x) * 2 * numFeats;
      for (let k = 0; k < numFeats; k++) {
        const py = ye / dimT[k]!;
        const px = xe / dimT[k]!;
        out[o + k] = k % 2 === 0 ? Math.sin(py) : Math.cos(py);
        out[o + numFeats + k] = k % 2 === 0 ? Math.sin(px) : Math.cos(px);
      }
    }
  }
  return tf.tensor4d(out, [1, h, w, 2 * numFeats]);
}
