import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { withInitSeed } from '../../src/engine/random.js';
import { readCheckpoint, saveCheckpoint, type CheckpointMeta } from '../../src/io/checkpoint.js';
import { openSafetensors } from '../../src/io/safetensors.js';

const meta: CheckpointMeta = { format: 'densekit-checkpoint-1', iteration: 3, optimizerStep: 3, loaderPosition: 6, rngStates: [[1, 2, 3, 4]], config: '{}' };

describe('training checkpoints', () => {
  it('round-trip model and optimizer tensors; weights-only reads skip the moments entirely', () => {
    const model = withInitSeed(1, () => new Linear(5, 3));
    const moments = new Map([
      ['weight.m', tf.variable(tf.ones([5, 3]))],
      ['weight.v', tf.variable(tf.fill([5, 3], 2))],
    ]);
    const path = join(mkdtempSync(join(tmpdir(), 'dk-ck-')), 'last.safetensors');
    saveCheckpoint(path, model, { state: () => moments }, meta);
    const full = readCheckpoint(path);
    expect(full.meta).toEqual(meta);
    expect([...full.model.keys()].sort()).toEqual(['bias', 'weight']);
    expect([...full.model.get('weight')!.data]).toEqual([...model.weight.dataSync()]);
    expect([...full.optim.get('weight.v')!.data]).toEqual(new Array(15).fill(2));
    const weights = readCheckpoint(path, { optimizer: false });
    expect(weights.optim.size).toBe(0);
    expect([...weights.model.keys()].sort()).toEqual(['bias', 'weight']);
    const reader = openSafetensors(path);
    expect(reader.names.filter((n) => n.startsWith('optim.')).sort()).toEqual(['optim.weight.m', 'optim.weight.v']);
    reader.close();
    model.dispose();
    for (const v of moments.values()) v.dispose();
  });
});

describe('loading trained weights', () => {
  it('builds the model without random draws and still restores every parameter exactly', async () => {
    const { withoutInitDraws } = await import('../../src/engine/random.js');
    const { loadTrainedWeights } = await import('../../src/io/load-weights.js');
    // Inside, initialisers give zeros and do not advance the seeded generator.
    const skipped = withoutInitDraws(() => new Linear(4, 2));
    expect(Array.from(skipped.weight.dataSync())).toEqual(new Array(8).fill(0));
    const after = withInitSeed(7, () => {
      withoutInitDraws(() => new Linear(4, 2)).dispose();
      return new Linear(4, 2);
    });
    const fresh = withInitSeed(7, () => new Linear(4, 2));
    expect(Array.from(after.weight.dataSync())).toEqual(Array.from(fresh.weight.dataSync()));
    // A model built that way and loaded equals the saved one.
    const path = join(mkdtempSync(join(tmpdir(), 'dk-ck-')), 'model_final.safetensors');
    saveCheckpoint(path, fresh, undefined, meta);
    const loaded = loadTrainedWeights(skipped, path);
    expect(Array.from(loaded.weight.dataSync())).toEqual(Array.from(fresh.weight.dataSync()));
    expect(Array.from(loaded.bias!.dataSync())).toEqual(Array.from(fresh.bias!.dataSync()));
    for (const m of [after, fresh, loaded]) m.dispose();
  });
});
