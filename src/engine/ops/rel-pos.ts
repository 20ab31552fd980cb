import { tf, type Tensor } from '../tf.js';
import { gatherRows } from './gather.js';
import { batchMatMul } from './dense.js';
import { resize1d } from './resize.js';

/**
 * Relative position embeddings for queries of length qSize against keys of
 * length kSize (detectron2's get_rel_pos): the table [L, C] is linearly
 * resized to 2·max(q, k) − 1 rows when needed, then row
 * (q_i·max(k/q,1) − k_j·max(q/k,1) + (k−1)·max(q/k,1)) is gathered for
 * every (i, j). Returns [qSize, kSize, C].
 */
export function getRelPos(qSize: number, kSize: number, table: Tensor): Tensor {
  const maxDist = 2 * Math.max(qSize, kSize) - 1;
  const resized = table.shape[0] === maxDist ? table : resize1d(table, maxDist, 'linear');
  const qRatio = Math.max(kSize / qSize, 1);
  const kRatio = Math.max(qSize / kSize, 1);
  const idx = new Int32Array(qSize * kSize);
  for (let i = 0; i < qSize; i++) {
    for (let j = 0; j < kSize; j++) {
      // torch computes these coordinates in float32, then truncates to long.
      const rel = Math.fround(Math.fround(Math.fround(i * qRatio) - Math.fround(j * kRatio)) + Math.fround((kSize - 1) * kRatio));
      idx[i * kSize + j] = Math.trunc(rel);
    }
  }
  const c = table.shape[1]!;
  return gatherRows(resized, tf.tensor1d(idx, 'int32')).reshape([qSize, kSize, c]);
}

/**
 * The two terms of detectron2's decomposed relative positions for queries
 * q [N, qh·qw, C] (the *unscaled* query): relH[n, y, x, ky] = Σ_c q·Rh[y, ky, c]
 * and relW[n, y, x, kx] = Σ_c q·Rw[x, kx, c], each a batched matmul over
 * the query row / column.
 */
export function decomposedRelPos(q: Tensor, tableH: Tensor, tableW: Tensor, qhw: [number, number], khw: [number, number]): { relH: Tensor; relW: Tensor } {
  const [qh, qw] = qhw;
  const [kh, kw] = khw;
  const rh = getRelPos(qh, kh, tableH); // [qh, kh, C]
  const rw = getRelPos(qw, kw, tableW); // [qw, kw, C]
  const n = q.shape[0]!;
  const c = q.shape[2]!;
  const rq = q.reshape([n, qh, qw, c]);
  const relH = batchMatMul(rq.transpose([1, 0, 2, 3]).reshape([qh, n * qw, c]), rh.transpose([0, 2, 1]))
    .reshape([qh, n, qw, kh])
    .transpose([1, 0, 2, 3]);
  const relW = batchMatMul(rq.transpose([2, 0, 1, 3]).reshape([qw, n * qh, c]), rw.transpose([0, 2, 1]))
    .reshape([qw, n, qh, kw])
    .transpose([1, 2, 0, 3]);
  return { relH, relW };
}

/** The [N, qh·qw, kh·kw] attention bias rel_h[.., ky] + rel_w[.., kx] of `decomposedRelPos`. */
export function relPosBias(relH: Tensor, relW: Tensor): Tensor {
  const [n, qh, qw, kh] = relH.shape as [number, number, number, number];
  const kw = relW.shape[3]!;
  return tf.add(relH.reshape([n, qh, qw, kh, 1]), relW.reshape([n, qh, qw, 1, kw])).reshape([n, qh * qw, kh * kw]);
}

/** detectron2's add_decomposed_rel_pos: attn [N, qh·qw, kh·kw] plus the decomposed bias. */
export function addDecomposedRelPos(attn: Tensor, q: Tensor, tableH: Tensor, tableW: Tensor, qhw: [number, number], khw: [number, number]): Tensor {
  const { relH, relW } = decomposedRelPos(q, tableH, tableW, qhw, khw);
  return tf.add(attn, relPosBias(relH, relW));
}
