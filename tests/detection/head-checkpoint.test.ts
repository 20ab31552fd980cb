import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { withInitSeed } from '../../src/engine/random.js';
import type { Module } from '../../src/engine/module.js';
import { ConvFcHead } from '../../src/detection/box-head.js';
import { MaskHead } from '../../src/detection/mask-head.js';
import { roiAlign } from '../../src/engine/ops/roi-align.js';
import { RpnHead } from '../../src/detection/rpn.js';
import { maxAbsDiff } from '../helpers/fixtures.js';
import { trackWasmHeap } from '../helpers/wasm-heap.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

/** Loss, parameter gradients and the bytes the tape holds when the forward pass ends. */
function gradientsOf(module: Module, forward: () => tf.Tensor): { loss: number; grads: Float32Array[]; heldBytes: number } {
  const vars = module.namedParameters().map(([, v]) => v);
  const heap = trackWasmHeap();
  let heldBytes = 0;
  const { value, grads } = tf.variableGrads(() => {
    const y = forward();
    const loss = tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape)))) as tf.Scalar;
    heldBytes = heap.live();
    return loss;
  }, vars);
  heap.stop();
  const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array), heldBytes };
  value.dispose();
  tf.dispose(Object.values(grads));
  return out;
}

function expectSameGradients(a: { loss: number; grads: Float32Array[] }, b: { loss: number; grads: Float32Array[] }): void {
  expect(b.loss).toBeCloseTo(a.loss, 3);
  b.grads.forEach((g, i) => expect(maxAbsDiff(g, a.grads[i]!)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(a.grads[i]!, Math.abs))));
}

describe('checkpointed ROI heads', () => {
  it('box head: same gradients, a fraction of the memory held until the backward pass', () => {
    const x = tf.randomNormal([48, 7, 7, 32], 0, 1, 'float32', 1);
    const make = (checkpoint: boolean) => {
      return withInitSeed(5, () => new ConvFcHead(32, 7, 4, 32, 64, checkpoint));
    };
    const plain = make(false);
    const ckpt = make(true);
    const a = gradientsOf(plain, () => plain.forward(x));
    const before = tf.memory().numTensors;
    const b = gradientsOf(ckpt, () => ckpt.forward(x));
    expect(tf.memory().numTensors).toBe(before);
    expectSameGradients(a, b);
    expect(b.heldBytes).toBeLessThan(a.heldBytes / 2);
  });

  it('box head inference frees each layer as it goes: the peak is a few layer-sized tensors', () => {
    const x = tf.randomNormal([64, 7, 7, 32], 0, 1, 'float32', 3);
    const head = withInitSeed(5, () => new ConvFcHead(32, 7, 4, 32, 64, true)).eval();
    const layerBytes = x.size * 4;
    const heap = trackWasmHeap();
    const start = heap.live();
    tf.tidy(() => void head.forward(x).dataSync());
    heap.stop();
    // One scope around all four conv + LN + ReLU layers held ~30 tensors of this size.
    expect(heap.peak() - start).toBeLessThan(8 * layerBytes);
    expect(heap.live()).toBe(start);
  });

  it('mask head: classLogits equals selecting from forward, with the same gradients and less memory', () => {
    const x = tf.randomNormal([12, 6, 6, 16], 0, 1, 'float32', 2);
    const classes = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 5);
    const make = (checkpoint: boolean) => {
      return withInitSeed(6, () => new MaskHead(16, 16, 2, 5, checkpoint));
    };
    const plain = make(false);
    const ckpt = make(true);
    const a = gradientsOf(plain, () => MaskHead.selectClass(plain.forward(x), classes));
    const b = gradientsOf(ckpt, () => ckpt.classLogits(x, classes));
    expectSameGradients(a, b);
    expect(b.heldBytes).toBeLessThan(a.heldBytes / 2);
  });

  it('RPN head: same logits, deltas and gradients as one checkpointed step, less memory', () => {
    const x = tf.randomNormal([1, 24, 20, 32], 0, 1, 'float32', 4);
    const make = (checkpoint: boolean) => {
      return withInitSeed(7, () => new RpnHead(32, 3, 2, checkpoint));
    };
    const plain = make(false);
    const ckpt = make(true);
    const both = (h: RpnHead) => () => {
      const { logits, deltas } = h.forward(x);
      expect(logits.shape).toEqual([1, 24 * 20 * 3]);
      expect(deltas.shape).toEqual([1, 24 * 20 * 3, 4]);
      return tf.concat([logits.reshape([-1]), tf.mul(deltas, 3).reshape([-1])]);
    };
    const a = gradientsOf(plain, both(plain));
    const b = gradientsOf(ckpt, both(ckpt));
    expectSameGradients(a, b);
    expect(b.heldBytes).toBeLessThan(a.heldBytes / 2);
  });

  it('ROIAlign keeps none of its crops for the backward pass', () => {
    const features = tf.variable(tf.randomNormal([1, 160, 160, 32], 0, 1, 'float32', 3));
    const n = 150;
    const boxes = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const x0 = (i * 37) % 120;
      const y0 = (i * 53) % 120;
      boxes.set([x0, y0, x0 + 20 + (i % 40), y0 + 15 + ((i * 3) % 50)], i * 4);
    }
    const batch = new Int32Array(n);
    const heap = trackWasmHeap();
    let held = 0;
    const { value, grads } = tf.variableGrads(() => {
      const y = roiAlign(features, boxes, batch, { outputSize: 7, spatialScale: 1, samplingRatio: 0, aligned: true });
      held = heap.live();
      return tf.sum(tf.square(y)) as tf.Scalar;
    }, [features]);
    heap.stop();
    // A few copies of the output (group parts, concatenation, reordering),
    // not the crops gathered to make them (~20-60 px a side here, 10-70x the output).
    const outputBytes = n * 7 * 7 * 32 * 4;
    expect(held).toBeLessThan(8 * outputBytes);
    expect(Number.isFinite(grads[features.name]!.dataSync()[0])).toBe(true);
    value.dispose();
    tf.dispose(Object.values(grads));
    features.dispose();
  });
});
