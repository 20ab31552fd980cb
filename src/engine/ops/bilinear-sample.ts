import { tf, type Tensor } from '../tf.js';
import { gatherRows } from './gather.js';
import { withGradient } from './custom-grad.js';

/**
 * Bilinear sampling with zero padding, as grid_sample(align_corners=False,
 * padding_mode='zeros'): for pixel coordinates (px, py) the four
 * neighbours are blended by distance; neighbours outside the map add 0
 * (weights are not renormalised). Differentiable with respect to the
 * sampled values (gather → scatter) and to the coordinates (the blend
 * weights), on every backend.
 *
 * table: [B·H·W, C] (rows of B maps, row-major); px, py: pixel
 * coordinates of the points, of any shape P (x = (gx + 1)/2·W − 0.5 for a
 * normalised grid gx); H, W may be tensors broadcastable to P (per level in
 * multi-level sampling), `base` (broadcastable to P) the first row of each
 * point's map. Per-level values stay small tensors that broadcast: expanded
 * to every point they would be large constants in a traced graph.
 * Returns [...P, C].
 */
export function bilinearSample(table: Tensor, px: Tensor, py: Tensor, H: Tensor | number, W: Tensor | number, base: Tensor): Tensor {
  const c = table.shape[1]!;
  const points = px.shape;
  const n = px.size;
  const rows = table.shape[0]!;
  const corners = [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ] as const;
  // One op with a hand-written gradient: the neighbour indices and validity
  // come from floor() and comparisons, which must stay off the gradient tape.
  return withGradient([table, px, py], ([tab, x, y], save) => {
    const Wt = typeof W === 'number' ? tf.scalar(W) : W;
    const Ht = typeof H === 'number' ? tf.scalar(H) : H;
    const x0 = tf.floor(x!);
    const y0 = tf.floor(y!);
    const fx = tf.sub(x!, x0);
    const fy = tf.sub(y!, y0);
    const saved: Tensor[] = [fx, fy];
    let out: Tensor | undefined;
    for (const [dx, dy] of corners) {
      const xi = tf.add(x0, dx);
      const yi = tf.add(y0, dy);
      const valid = tf.cast(tf.logicalAnd(tf.logicalAnd(tf.greaterEqual(xi, 0), tf.less(xi, Wt)), tf.logicalAnd(tf.greaterEqual(yi, 0), tf.less(yi, Ht))), 'float32');
      const xs = tf.minimum(tf.maximum(xi, 0), tf.sub(Wt, 1));
      const ys = tf.minimum(tf.maximum(yi, 0), tf.sub(Ht, 1));
      const idx = tf.cast(tf.add(base, tf.add(tf.mul(ys, Wt), xs)), 'int32').reshape([-1]);
      const vals = gatherRows(tab!, idx).reshape([...points, c]);
      const w = tf.mul(tf.mul(dx ? fx : tf.sub(1, fx), dy ? fy : tf.sub(1, fy)), valid);
      const term = tf.mul(vals, w.expandDims(-1));
      out = out ? tf.add(out, term) : term;
      saved.push(idx, valid, vals);
    }
    save(saved);
    return {
      value: out!,
      gradFunc: (g, s) => {
        const [sfx, sfy] = s as [Tensor, Tensor];
        let dTable: Tensor | undefined;
        let dx: Tensor | undefined;
        let dy: Tensor | undefined;
        corners.forEach(([cx, cy], i) => {
          const idx = s[2 + 3 * i]!;
          const valid = s[3 + 3 * i]!;
          const vals = s[4 + 3 * i]!;
          const wx = cx ? sfx : tf.sub(1, sfx);
          const wy = cy ? sfy : tf.sub(1, sfy);
          const w = tf.mul(tf.mul(wx, wy), valid);
          const scat = tf.scatterND(idx.reshape([-1, 1]), tf.mul(g, w.expandDims(-1)).reshape([n, c]), [rows, c]);
          dTable = dTable ? tf.add(dTable, scat) : scat;
          // d out / d fx = Σ_c g·vals · (±1)·wy·valid, likewise for fy.
          const gv = tf.sum(tf.mul(g, vals), -1);
          const ddx = tf.mul(tf.mul(gv, tf.mul(wy, valid)), cx ? 1 : -1);
          const ddy = tf.mul(tf.mul(gv, tf.mul(wx, valid)), cy ? 1 : -1);
          dx = dx ? tf.add(dx, ddx) : ddx;
          dy = dy ? tf.add(dy, ddy) : ddy;
        });
        return [dTable!, dx!, dy!];
      },
    };
  });
}

/**
 * F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros',
 * align_corners=False) on NHWC input [B, H, W, C] with grid [B, Ho, Wo, 2]
 * of normalised (x, y) in [-1, 1]. Returns [B, Ho, Wo, C].
 */
export function gridSample(input: Tensor, grid: Tensor): Tensor {
  return tf.tidy(() => {
    const [b, h, w, c] = input.shape as [number, number, number, number];
    const [, ho, wo] = grid.shape as [number, number, number, number];
    const g = grid.reshape([b, ho * wo, 2]);
    const gx = g.slice([0, 0, 0], [b, ho * wo, 1]).reshape([b, ho * wo]);
    const gy = g.slice([0, 0, 1], [b, ho * wo, 1]).reshape([b, ho * wo]);
    const px = tf.sub(tf.mul(tf.add(gx, 1), w / 2), 0.5);
    const py = tf.sub(tf.mul(tf.add(gy, 1), h / 2), 0.5);
    const base = tf.mul(tf.range(0, b).reshape([b, 1]), h * w);
    return bilinearSample(input.reshape([b * h * w, c]), px, py, h, w, base).reshape([b, ho, wo, c]);
  });
}
