import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { switchBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import { runRecipe } from '../../src/tasks/recipe.js';
import { readCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { synthDataset } from '../helpers/synth-data.js';

beforeAll(async () => {
  await switchBackend('wasm');
});

const DEMO = fileURLToPath(new URL('../../configs/demo/o365_to_coco_synth.yaml', import.meta.url));

describe('staged recipes', () => {
  it('runs the two-stage demo config end to end: stage 2 starts from stage 1 with the class heads re-initialised', async () => {
    const a = await synthDataset({ images: 4, val: 2, size: 64, classes: ['circle', 'square', 'triangle'], seed: 1 });
    const b = await synthDataset({ images: 4, val: 2, size: 64, classes: ['ring', 'circle'], seed: 2 });
    const out = mkdtempSync(join(tmpdir(), 'dk-stages-'));
    const set = (stage: string, d: typeof a) => [
      `${stage}data.train.images=${join(d.dir, 'train')}`,
      `${stage}data.train.annotations=${d.train}`,
      `${stage}data.val.images=${join(d.dir, 'val')}`,
      `${stage}data.val.annotations=${d.val}`,
    ];
    const loaded = loadConfig(DEMO, [
      ...set('', a),
      'input.train_size=64',
      'input.test_size=64',
      'input.square_pad=64',
      'model.backbone.pretrain_img_size=64',
      'train.max_iter=2',
      'train.ims_per_batch=1',
      'train.log_period=1',
    ]);
    // Point stage 2 at dataset b and shorten it (stage entries are plain config trees).
    const stage2 = (loaded.raw.stages as Record<string, unknown>[])[1]!;
    stage2.data = { train: { images: join(b.dir, 'train'), annotations: b.train }, val: { images: join(b.dir, 'val'), annotations: b.val } };
    (stage2.train as Record<string, unknown>).max_iter = 2;
    const lines: string[] = [];
    const results = await runRecipe(loaded, { outDir: out, log: (l) => lines.push(l) });
    expect([...results.keys()]).toEqual(['o365', 'coco']);
    expect(existsSync(join(out, 'o365', 'model_final.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'coco', 'model_final.safetensors'))).toBe(true);
    const init = lines.find((l) => l.startsWith('initialised from'))!;
    expect(init).toContain(join(out, 'o365', 'model_final.safetensors'));
    expect(init).toMatch(/re-initialised \(.*roi_heads\.box_predictor\.cls_score\.weight/);
    expect(readCheckpoint(join(out, 'coco', 'model_final.safetensors')).meta!.stage).toBe('coco');
    // Resuming a finished recipe skips both stages.
    const again: string[] = [];
    await runRecipe(loaded, { outDir: out, resume: true, log: (l) => again.push(l) });
    expect(again.filter((l) => l.includes('already complete'))).toHaveLength(2);
  });
});

describe('checkpoint writes are atomic', () => {
  it('a write killed half-way leaves the previous checkpoint loadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-kill-'));
    const path = join(dir, 'last.safetensors');
    const small = new Linear(4, 3);
    saveCheckpoint(path, small, undefined, { format: 'densekit-checkpoint-1', iteration: 7, optimizerStep: 7, loaderPosition: 7, rngStates: [], config: '{}' });
    // A child process writes a large checkpoint to the same path and is killed mid-write.
    const script = join(dir, 'writer.mjs');
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const atomic = pathToFileURL(fileURLToPath(new URL('../../src/util/atomic-write.ts', import.meta.url))).href;
    writeFileSync(
      script,
      `import { writeFileAtomic } from '${atomic}';\nconst big = new Uint8Array(64 * 1024 * 1024);\nconst chunks = Array.from({ length: 64 }, () => big);\nprocess.stdout.write('start\\n');\nwriteFileAtomic(${JSON.stringify(path)}, chunks);\n`,
    );
    const child = spawn(process.execPath, ['--import', tsx, script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const ck = readCheckpoint(path);
    expect(ck.meta!.iteration).toBe(7);
    expect(ck.model.get('weight')!.shape).toEqual([4, 3]);
    small.dispose();
  });
});
