import { tf, type Tensor } from '../engine/tf.js';
import { gatherRows } from '../engine/ops/gather.js';
import { batchMatMul } from '../engine/ops/dense.js';
import { resize1d } from '../engine/ops/resize.js';

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
 * detectron2's add_decomposed_rel_pos: attn [B·heads, qh·qw, kh·kw] gets
 * rel_h[b, y, x, ky] + rel_w[b, y, x, kx], where rel_h = Σ_c q·Rh[y, ky, c]
 * and rel_w = Σ_c q·Rw[x, kx, c]. `q` is the *unscaled* query [B·heads, qh·qw, C].
 * Both einsums are batched matmuls over the query row / column.
 */
export function addDecomposedRelPos(attn: Tensor, q: Tensor, tableH: Tensor, tableW: Tensor, qhw: [number, number], khw: [number, number]): Tensor {
  const [qh, qw] = qhw;
  const [kh, kw] = khw;
  const rh = getRelPos(qh, kh, tableH); // [qh, kh, C]
  const rw = getRelPos(qw, kw, tableW); // [qw, kw, C]
  const bh = q.shape[0]!;
  const c = q.shape[2]!;
  const rq = q.reshape([bh, qh, qw, c]);
  // rel_h: for each query row y: [B·heads·qw, C] x [C, kh]
  const relH = batchMatMul(rq.transpose([1, 0, 2, 3]).reshape([qh, bh * qw, c]), rh.transpose([0, 2, 1]))
    .reshape([qh, bh, qw, kh])
    .transpose([1, 0, 2, 3]); // [bh, qh, qw, kh]
  // rel_w: for each query column x: [B·heads·qh, C] x [C, kw]
  const relW = batchMatMul(rq.transpose([2, 0, 1, 3]).reshape([qw, bh * qh, c]), rw.transpose([0, 2, 1]))
    .reshape([qw, bh, qh, kw])
    .transpose([1, 2, 0, 3]); // [bh, qh, qw, kw]
  const bias = tf.add(relH.reshape([bh, qh, qw, kh, 1]), relW.reshape([bh, qh, qw, 1, kw]));
  return tf.add(attn, bias.reshape([bh, qh * qw, kh * kw]));
}
