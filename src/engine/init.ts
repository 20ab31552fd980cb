import { tf, type Tensor } from './tf.js';
import { initDrawsSkipped, initRng, type Rng } from './random.js';

/** Parameter initialisers, drawing from `initRng()` (see `withInitSeed`) so that a seed fixes a model. */

export function uniform(shape: number[], lo: number, hi: number, rng: Rng = initRng()): Tensor {
  if (initDrawsSkipped()) return tf.zeros(shape, 'float32');
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.range(lo, hi);
  return tf.tensor(data, shape, 'float32');
}

export function normal(shape: number[], std: number, rng: Rng = initRng()): Tensor {
  if (initDrawsSkipped()) return tf.zeros(shape, 'float32');
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return tf.tensor(data, shape, 'float32');
}

/** Normal truncated to [-2std, 2std] by redrawing (timm's trunc_normal_ with default bounds ≈ ±2). */
export function truncNormal(shape: number[], std: number, rng: Rng = initRng()): Tensor {
  if (initDrawsSkipped()) return tf.zeros(shape, 'float32');
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal();
    while (v < -2 || v > 2) v = rng.normal();
    data[i] = v * std;
  }
  return tf.tensor(data, shape, 'float32');
}

export function zeros(shape: number[]): Tensor {
  return tf.zeros(shape, 'float32');
}

export function ones(shape: number[]): Tensor {
  return tf.ones(shape, 'float32');
}

export function constant(shape: number[], value: number): Tensor {
  return tf.fill(shape, value, 'float32');
}

/** PyTorch's default for Linear/Conv weights: kaiming_uniform(a=√5) = U(±1/√fanIn). */
export function torchDefaultWeight(shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return uniform(shape, -bound, bound);
}

/** He/Kaiming normal, fan-out, for ReLU convs (detectron2's c2_msra_fill). */
export function kaimingNormalFanOut(shape: number[], fanOut: number): Tensor {
  return normal(shape, Math.sqrt(2 / fanOut));
}

/** Xavier/Glorot uniform. */
export function xavierUniform(shape: number[], fanIn: number, fanOut: number): Tensor {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, -bound, bound);
}
