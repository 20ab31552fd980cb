import { tf } from './src/engine/tf.js';
import { switchBackend } from './src/engine/backend.js';
await switchBackend('wasm');
function bench(name: string, f: () => tf.Tensor) {
  tf.tidy(() => { f().dataSync(); }); const t0 = performance.now(); let n = 0;
  while (performance.now() - t0 < 3000) { tf.tidy(() => { f().dataSync(); }); n++; }
  console.log(name, ((performance.now() - t0) / n).toFixed(1), 'ms');
}
for (const [N, L, d] of [[12, 4096, 64], [300, 196, 64]] as const) {
  const q = tf.randomNormal([N, L, d]); const kT = tf.randomNormal([N, d, L]); const v = tf.randomNormal([N, L, d]);
  bench(`batched N=${N} L=${L}`, () => tf.matMul(tf.softmax(tf.matMul(q, kT)), v));
  bench(`loop N=${N} L=${L}`, () => {
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < N; i++) {
      const qi = q.slice([i, 0, 0], [1, L, d]).reshape([L, d]) as tf.Tensor2D;
      const ki = kT.slice([i, 0, 0], [1, d, L]).reshape([d, L]) as tf.Tensor2D;
      const vi = v.slice([i, 0, 0], [1, L, d]).reshape([L, d]) as tf.Tensor2D;
      outs.push(tf.matMul(tf.softmax(tf.matMul(qi, ki)), vi));
    }
    return tf.stack(outs);
  });
}
