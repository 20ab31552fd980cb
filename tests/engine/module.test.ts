import { describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { Module, ModuleList } from '../../src/engine/module.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { LayerNorm } from '../../src/engine/layers/layer-norm.js';
import { DropPath } from '../../src/engine/layers/drop-path.js';
import { Rng } from '../../src/engine/random.js';
import { gelu } from '../../src/engine/layers/activations.js';

class Block extends Module {
  readonly norm = this.module('norm', new LayerNorm(4));
  readonly fc = this.module('fc', new Linear(4, 3));
  readonly stat = this.buffer('stat', tf.zeros([2]));
}

class Net extends Module {
  readonly blocks = this.module('blocks', new ModuleList([new Block(), new Block()]));
  readonly head = this.module('head', new Linear(3, 2, { bias: false }));
}

describe('Module', () => {
  it('names parameters by dotted path, buffers separately', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'blocks.0.norm.weight',
      'blocks.0.norm.bias',
      'blocks.0.fc.weight',
      'blocks.0.fc.bias',
      'blocks.1.norm.weight',
      'blocks.1.norm.bias',
      'blocks.1.fc.weight',
      'blocks.1.fc.bias',
      'head.weight',
    ]);
    expect(net.namedBuffers().map(([n]) => n)).toEqual(['blocks.0.stat', 'blocks.1.stat']);
    expect(net.stateDict().size).toBe(11);
    expect(net.numParameters()).toBe(2 * (4 + 4 + 12 + 3) + 6);
    net.dispose();
  });

  it('loads a state dict and reports missing, unexpected and skipped entries', () => {
    const a = new Net();
    const b = new Net();
    const sd = new Map<string, tf.Tensor>(a.stateDict());
    expect(b.loadStateDict(sd)).toEqual({ missing: [], unexpected: [], skipped: [] });
    expect(Array.from(b.head.weight.dataSync())).toEqual(Array.from(a.head.weight.dataSync()));

    const partial = new Map(sd);
    partial.delete('head.weight');
    partial.set('extra', tf.zeros([1]));
    expect(() => b.loadStateDict(partial)).toThrow(/missing: head\.weight[\s\S]*unexpected: extra/);
    const r = b.loadStateDict(partial, { strict: false });
    expect(r.missing).toEqual(['head.weight']);
    expect(r.unexpected).toEqual(['extra']);

    const wrong = new Map(sd);
    wrong.set('head.weight', tf.zeros([3, 5]));
    expect(() => b.loadStateDict(wrong)).toThrow(/head\.weight: expected \[3,2\], got \[3,5\]/);
    const s = b.loadStateDict(wrong, { skipMismatched: true });
    expect(s.skipped).toEqual([{ name: 'head.weight', expected: [3, 2], got: [3, 5] }]);
    a.dispose();
    b.dispose();
  });

  it('train/eval propagate, and DropPath is the identity in eval', () => {
    const rng = new Rng(1);
    const dp = new DropPath(0.5, rng);
    const x = tf.ones([64, 3]);
    dp.train();
    const y = dp.forward(x).dataSync();
    const rows = Array.from({ length: 64 }, (_, i) => y[i * 3]!);
    expect(rows.every((v) => v === 0 || v === 2)).toBe(true);
    expect(rows.some((v) => v === 0) && rows.some((v) => v === 2)).toBe(true);
    dp.eval();
    expect(Array.from(dp.forward(x).dataSync())).toEqual(Array.from(x.dataSync()));
    const net = new Net().eval();
    expect(net.blocks.items[1]!.training).toBe(false);
    net.dispose();
  });

  it('GELU is the exact erf form', () => {
    const v = gelu(tf.tensor1d([-3, -1, 0, 0.5, 2])).dataSync();
    // torch.nn.functional.gelu values
    const ref = [-0.0040496, -0.1586553, 0, 0.3457312, 1.9544997];
    ref.forEach((r, i) => expect(v[i]).toBeCloseTo(r, 5));
  });

  it('Rng state round-trips and streams are reproducible', () => {
    const r = new Rng(123);
    r.uniform();
    const state = r.getState();
    const a = [r.uniform(), r.normal(), r.int(10)];
    r.setState(state);
    expect([r.uniform(), r.normal(), r.int(10)]).toEqual(a);
    expect(new Rng(5).uniform()).toBe(new Rng(5).uniform());
    expect(new Rng(5).uniform()).not.toBe(new Rng(6).uniform());
  });
});
