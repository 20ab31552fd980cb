import { tf, type Tensor } from '../tf.js';
import { bilinearSample } from './bilinear-sample.js';

/** Values sampled per chunk of queries (16 MB of float32 per bilinear corner). */
const SAMPLES_PER_CHUNK = 4 * 2 ** 20;

/**
 * Multi-scale deformable attention, in pure tensor ops (Mask2Former's
 * ms_deform_attn_core_pytorch, without the custom CUDA kernel):
 *
 *   value      [N, S, M, D]   the levels' tokens, each level row-major (y·W + x)
 *   shapes     [[H, W], …]    per level
 *   locations  [N, Lq, M, L, P, 2]  (x, y) in [0, 1] of each level's map
 *   weights    [N, Lq, M, L, P]     attention weights (softmaxed over L·P)
 *
 * Each point is sampled bilinearly with zero padding (grid_sample,
 * align_corners=False: pixel = loc·size − 0.5) and the samples are summed
 * with their weights. Returns [N, Lq, M·D]. Differentiable with respect to
 * the values, the locations and the weights on every backend.
 *
 * Queries are sampled in chunks of at most `samplesPerChunk` values: each
 * of the four bilinear corners materialises its samples, their weighted
 * copy and a running sum, so a whole level at once — Mask2Former's pixel
 * decoder or ViT-Adapter's extractor at 896², 16,464 queries × 12 heads × 4
 * points × 64 channels, 193 MB per copy — held over 2 GB.
 */
export function msDeformAttnCore(value: Tensor, shapes: [number, number][], locations: Tensor, weights: Tensor, samplesPerChunk = SAMPLES_PER_CHUNK): Tensor {
  return tf.tidy(() => {
    const [n, s, m, d] = value.shape as [number, number, number, number];
    const [, lq, , L, P] = locations.shape as [number, number, number, number, number, number];
    if (L !== shapes.length) throw new Error(`locations have ${L} levels, shapes ${shapes.length}`);
    const expected = shapes.reduce((a, [h, w]) => a + h * w, 0);
    if (expected !== s) throw new Error(`value has ${s} tokens, the level shapes ${expected}`);
    // Rows of the value table: ((n·M + m)·S + token).
    const table = value.transpose([0, 2, 1, 3]).reshape([n * m * s, d]);
    const chunk = Math.max(1, Math.min(lq, Math.floor(samplesPerChunk / (n * m * L * P * d))));
    if (chunk >= lq) return sampleQueries(table, shapes, s, m, d, locations, weights);
    const parts: Tensor[] = [];
    for (let q0 = 0; q0 < lq; q0 += chunk) {
      const c = Math.min(chunk, lq - q0);
      parts.push(
        tf.tidy(() =>
          sampleQueries(table, shapes, s, m, d, locations.slice([0, q0, 0, 0, 0, 0], [n, c, m, L, P, 2]), weights.slice([0, q0, 0, 0, 0], [n, c, m, L, P])),
        ),
      );
    }
    return tf.concat(parts, 1);
  });
}

/** The attention of one chunk of queries: locations [N, c, M, L, P, 2], weights [N, c, M, L, P] → [N, c, M·D]. */
function sampleQueries(table: Tensor, shapes: [number, number][], s: number, m: number, d: number, locations: Tensor, weights: Tensor): Tensor {
  return tf.tidy(() => {
    const [n, lq, , L, P] = locations.shape as [number, number, number, number, number, number];
    // Per-level constants broadcast over [N, Lq, M, L, P].
    const starts: number[] = [];
    shapes.reduce((acc, [h, w]) => (starts.push(acc), acc + h * w), 0);
    const lvl = (vals: number[]) => tf.tensor(vals, [1, 1, 1, L, 1]);
    const Hl = lvl(shapes.map(([h]) => h));
    const Wl = lvl(shapes.map(([, w]) => w));
    const start = lvl(starts);
    const nm = tf.add(tf.mul(tf.range(0, n).reshape([n, 1, 1, 1, 1]), m), tf.range(0, m).reshape([1, 1, m, 1, 1]));
    const base = tf.add(tf.mul(nm, s), start); // [N, 1, M, L, 1]
    const x = locations.slice([0, 0, 0, 0, 0, 0], [n, lq, m, L, P, 1]).reshape([n, lq, m, L, P]);
    const y = locations.slice([0, 0, 0, 0, 0, 1], [n, lq, m, L, P, 1]).reshape([n, lq, m, L, P]);
    const px = tf.sub(tf.mul(x, Wl), 0.5);
    const py = tf.sub(tf.mul(y, Hl), 0.5);
    // Points [N, Lq, M, L, P]; the per-level sizes and bases broadcast over them.
    const sampled = bilinearSample(table, px, py, Hl, Wl, base); // [N, Lq, M, L, P, D]
    // The base already contains n: sample from batch 0's frame of reference.
    const weighted = tf.mul(sampled.reshape([n, lq, m, L * P, d]), weights.reshape([n, lq, m, L * P, 1]));
    return tf.sum(weighted, 3).reshape([n, lq, m * d]);
  });
}
