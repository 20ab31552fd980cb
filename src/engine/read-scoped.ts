import { tf, type Tensor } from './tf.js';

/**
 * Run tensor code in its own scope and read its float result back to the
 * host: every tensor it made, the result included, is freed on return.
 * For inference steps whose consumers are host-side (NMS, box decoding).
 */
export function readScoped(f: () => Tensor): Float32Array {
  let out: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    out = f().dataSync() as Float32Array;
  });
  return out;
}
