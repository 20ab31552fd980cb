import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { AdamW } from '../../src/train/adamw.js';
import { trackWasmHeap } from '../helpers/wasm-heap.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('AdamW memory', () => {
  it("an update holds one parameter's temporaries at a time, not the whole model's", () => {
    const n = 24;
    const params = Array.from({ length: n }, (_, i) => ({
      name: `p${i}`,
      variable: tf.variable(tf.randomNormal([64, 64], 0, 1, 'float32', i + 1), true, `adamw_mem_${i}`),
      lrScale: 1,
      weightDecay: 0.05,
      layerId: 0,
    }));
    const grads = new Map(params.map((p, i) => [p.name, tf.randomNormal([64, 64], 0, 1, 'float32', 100 + i)] as const));
    const opt = new AdamW(params, { betas: [0.9, 0.999], eps: 1e-8 });
    const paramBytes = 64 * 64 * 4;
    // A first update moves the moments and parameters into the wasm heap
    // (tensors made on the host are copied there on first use).
    opt.apply(grads, 1e-3);
    const before = tf.memory().numTensors;
    const heap = trackWasmHeap();
    opt.apply(grads, 1e-3);
    heap.stop();
    // Transient memory: the peak above what the update leaves (its new
    // parameter and moment buffers). A dozen temporaries per parameter; one
    // scope around all 24 updates held ~260 of them.
    expect(heap.peak() - heap.live()).toBeLessThan(30 * paramBytes);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    for (const p of params) p.variable.dispose();
    for (const g of grads.values()) g.dispose();
  });
});
