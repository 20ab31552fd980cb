import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { switchBackend } from '../../src/engine/backend.js';
import { trainDetector } from '../../src/tasks/detection/train.js';
import { readMetrics } from '../../src/train/run-folder.js';
import { readCheckpoint } from '../../src/io/checkpoint.js';
import { synthDataset, tinyRunConfig } from '../helpers/synth-data.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('training runs and resumes exactly', () => {
  it('2N steps equal N steps + resume + N steps (losses to 1e-6), and the log reads as one run', async () => {
    const data = await synthDataset();
    const full = await trainDetector(tinyRunConfig(data), { outDir: mkdtempSync(join(tmpdir(), 'dk-full-')), log: () => {} });
    const dir = mkdtempSync(join(tmpdir(), 'dk-resume-'));
    const first = await trainDetector(tinyRunConfig(data), { outDir: dir, stopAfter: 2, log: () => {} });
    expect(first.totals).toHaveLength(2);
    const second = await trainDetector(tinyRunConfig(data), { outDir: dir, resume: true, log: () => {} });
    const resumed = [...first.totals, ...second.totals];
    expect(resumed).toHaveLength(full.totals.length);
    resumed.forEach((v, i) => expect(Math.abs(v - full.totals[i]!), `iteration ${i}`).toBeLessThan(1e-6));
    const iters = readMetrics(dir)
      .filter((r) => r.type === undefined)
      .map((r) => r.iter);
    expect(iters).toEqual([1, 2, 3, 4]);
    expect(readCheckpoint(join(dir, 'model_final.safetensors')).meta!.iteration).toBe(4);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
