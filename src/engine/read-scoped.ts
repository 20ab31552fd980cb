import { tf, type Tensor } from './tf.js';

/**
 * Run tensor code in its own scope and read its float results back to the
 * host: every tensor it made, the results included, is freed on return.
 * For inference steps whose consumers are host-side (NMS, box decoding).
 */
export function readScoped(f: () => Tensor[]): Float32Array[] {
  let out: Float32Array[] = [];
  tf.tidy(() => {
    out = f().map((t) => t.dataSync() as Float32Array);
  });
  return out;
}
