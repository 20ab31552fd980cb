import { tf } from './src/engine/tf.js';
import { switchBackend } from './src/engine/backend.js';
await switchBackend('wasm');
function bench(name: string, flops: number, f: () => tf.Tensor) {
  f().dispose(); const t0 = performance.now(); let n = 0;
  while (performance.now() - t0 < 2000) { tf.tidy(() => { f().dataSync(); }); n++; }
  const ms = (performance.now() - t0) / n; console.log(name, ms.toFixed(1), 'ms', (flops / ms / 1e6).toFixed(1), 'GFLOP/s');
}
const a = tf.randomNormal([4096, 768]); const w = tf.randomNormal([768, 3072]);
//bench('2d 4096x768x3072', 2*4096*768*3072, () => tf.matMul(a, w));
const q = tf.randomNormal([12, 1024, 64]); const kt = tf.randomNormal([12, 64, 4096]);
//bench('bmm 12x1024x64x4096', 2*12*1024*64*4096, () => tf.matMul(q, kt));
const q2 = tf.randomNormal([300, 196, 64]); const k2 = tf.randomNormal([300, 64, 196]);
//bench('bmm win 300x196x64x196', 2*300*196*64*196, () => tf.matMul(q2, k2));
const q1 = tf.randomNormal([1024, 64]); const k1 = tf.randomNormal([64, 4096]);
bench('2d per-head 1024x64x4096', 2*1024*64*4096, () => tf.matMul(q1, k1));
const s = tf.randomNormal([12, 1024, 4096]);
//bench('softmax 12x1024x4096', 12*1024*4096*5, () => tf.softmax(s));
const p = tf.randomNormal([12, 1024, 4096]); const v = tf.randomNormal([12, 4096, 64]);
//bench('bmm pv 12x1024x4096x64', 2*12*1024*4096*64, () => tf.matMul(p, v));
function loopBmm(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor {
  const as = tf.unstack(a); const bs = tf.unstack(b);
  return tf.stack(as.map((x, i) => tf.matMul(x as tf.Tensor2D, bs[i] as tf.Tensor2D)));
}
bench('loop bmm win 300x196x64x196', 2*300*196*64*196, () => loopBmm(q2 as tf.Tensor3D, k2 as tf.Tensor3D));
bench('loop bmm 12x1024x64x4096', 2*12*1024*64*4096, () => loopBmm(q as tf.Tensor3D, kt as tf.Tensor3D));
bench('loop bmm pv 12x1024x4096x64', 2*12*1024*4096*64, () => loopBmm(p as tf.Tensor3D, v as tf.Tensor3D));
