import { beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { switchBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import type { DetectorRunConfig } from '../../src/config/schema.js';
import { detectorTask, trainDetector } from '../../src/tasks/detection/train.js';
import { runRecipe } from '../../src/tasks/recipe.js';
import { runTraining } from '../../src/train/trainer.js';
import { readMetrics, RUN_FILES, runPaths } from '../../src/train/run-folder.js';
import { MetricsLog } from '../../src/train/metrics-log.js';
import { isTempFileOf, tempFileName } from '../../src/util/atomic-write.js';
import { DensekitError } from '../../src/util/errors.js';
import { synthDataset, tinyRunConfig } from '../helpers/synth-data.js';
import { runCli } from '../helpers/cli.js';
import { spawnCli, waitFor } from '../helpers/cli-process.js';

/**
 * A run folder survives its users: one owner at a time, nothing of a
 * previous run lost to a run that cannot start, resumes that continue the
 * run they claim to continue, no debris from kills, and no stage that calls
 * itself complete without its evaluation. Runs are 1–3 iterations of the
 * tiny detector on a few 64-px images.
 */

const DEMO = fileURLToPath(new URL('../../configs/demo/mask_rcnn_tiny_synth.yaml', import.meta.url));

let data: Awaited<ReturnType<typeof synthDataset>>;

beforeAll(async () => {
  await switchBackend('wasm');
  data = await synthDataset({ images: 2, val: 1, size: 64 });
});

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `dk-rel-${name}-`));

/** The tiny detector for `max_iter` steps; without a validation split unless `val`. */
function config(o: { max_iter?: number; lr?: number; log_period?: number; fc_dim?: number; val?: boolean } = {}): DetectorRunConfig {
  const cfg = tinyRunConfig(data, {
    train: { max_iter: o.max_iter ?? 1, ims_per_batch: 1, checkpoint_period: 100, log_period: o.log_period ?? 1, optimizer: { lr: o.lr ?? 1e-3 }, schedule: { kind: 'cosine', warmup_iters: 1 }, seed: 3 },
  });
  const model = o.fc_dim ? { ...cfg.model, roi_heads: { ...cfg.model.roi_heads, fc_dim: o.fc_dim } } : cfg.model;
  return { ...cfg, model, data: { ...cfg.data, val: o.val ? cfg.data.val : null } };
}

/** The CLI's --set list for the demo config on the synthetic data. */
function cliSets(maxIter: number): string[] {
  return [
    `data.train.images=${join(data.dir, 'train')}`,
    `data.train.annotations=${data.train}`,
    'data.val=null',
    `train.max_iter=${maxIter}`,
    'train.ims_per_batch=1',
    'input.train_size=64',
    'input.test_size=64',
    'input.square_pad=64',
  ].flatMap((s) => ['--set', s]);
}

/** Every file of a folder with its bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

function lockOf(dir: string, owner: { pid: number; host: string }): string {
  const path = runPaths(dir).lock;
  writeFileSync(path, `${JSON.stringify({ ...owner, started: '2024-01-01T00:00:00.000Z' })}\n`);
  return path;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

const quiet = () => {};

describe('one owner at a time', () => {
  it('a second train into a folder in use exits 2, naming the folder and the owner, and writes nothing', () => {
    const dir = tmp('busy');
    // This test process is alive on this host: to the CLI it is another owner.
    lockOf(dir, { pid: process.pid, host: hostname() });
    const r = runCli(['train', '-c', DEMO, '-o', dir, ...cliSets(1)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`densekit: error: ${dir}: in use by another training (pid ${process.pid} on ${hostname()}`);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('densekit: error')).length).toBe(1);
    expect(readdirSync(dir)).toEqual([RUN_FILES.lock]);
  });

  it('a lock left by an owner that died is taken over with a note; one held on another host is refused and kept', async () => {
    const dir = tmp('stale');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const lock = lockOf(dir, { pid: dead, host: hostname() });
    const lines: string[] = [];
    await trainDetector(config(), { outDir: dir, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain(`taking over ${lock} from pid ${dead} on ${hostname()}`);
    expect(lines.join('\n')).toContain('no longer running');
    expect(existsSync(join(dir, RUN_FILES.finalWeights))).toBe(true);
    expect(existsSync(lock)).toBe(false);

    lockOf(dir, { pid: 1, host: 'elsewhere.example' });
    const before = snapshot(dir);
    const err = await rejection(trainDetector(config(), { outDir: dir, log: quiet }));
    expect(err).toBeInstanceOf(DensekitError);
    expect(err.message).toContain(`${dir}: in use by another training (pid 1 on elsewhere.example`);
    expect(err.message).toContain(`delete ${lock}`);
    expect(snapshot(dir)).toEqual(before);
  });

  it('SIGINT and SIGTERM release the lock and still end the process as the signal does', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const dir = tmp(`signal-${signal}`);
      const p = spawnCli(['train', '-c', DEMO, '-o', dir, ...cliSets(500)]);
      await waitFor(() => existsSync(runPaths(dir).lock), 60_000, `${runPaths(dir).lock}\n${p.stderr()}`);
      p.child.kill(signal);
      const end = await p.exited;
      expect(end.signal, p.stderr()).toBe(signal);
      expect(existsSync(runPaths(dir).lock)).toBe(false);
    }
  });
});

describe('nothing is overwritten before the inputs are validated', () => {
  it('a run with a wrong image folder, missing weights or a file for its folder leaves what is there byte for byte, and creates no folder', async () => {
    const dir = tmp('finished');
    await trainDetector(config(), { outDir: dir, log: quiet });
    const before = snapshot(dir);
    expect(Object.keys(before)).toEqual(expect.arrayContaining([RUN_FILES.config, RUN_FILES.metrics, RUN_FILES.finalWeights]));
    const empty = tmp('no-images');
    const base = config({ val: true });
    const wrongTrain: DetectorRunConfig = { ...base, data: { ...base.data, train: { ...base.data.train!, images: empty } } };
    const wrongVal: DetectorRunConfig = { ...base, data: { ...base.data, val: { ...base.data.val!, images: empty } } };
    for (const [cfg, key] of [
      [wrongTrain, 'data.train.images'],
      [wrongVal, 'data.val.images'],
    ] as const) {
      const err = await rejection(trainDetector(cfg, { outDir: dir, log: quiet }));
      expect(err).toBeInstanceOf(DensekitError);
      expect(err.message).toContain(`${key}: ${join(empty, '')}`);
      expect(snapshot(dir)).toEqual(before);
    }
    const noWeights = await rejection(trainDetector(config(), { outDir: dir, initFrom: join(empty, 'missing.safetensors'), log: quiet }));
    expect(noWeights.message).toContain('checkpoint not found');
    expect(snapshot(dir)).toEqual(before);

    const fresh = join(tmp('parent'), 'run');
    await rejection(trainDetector(wrongTrain, { outDir: fresh, log: quiet }));
    expect(existsSync(fresh)).toBe(false);

    const file = join(tmp('file'), 'notes.txt');
    writeFileSync(file, 'mine');
    const notFolder = await rejection(trainDetector(config(), { outDir: file, log: quiet }));
    expect(notFolder).toBeInstanceOf(DensekitError);
    expect(notFolder.message).toBe(`${file}: is not a folder; a run writes its files into a folder`);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });
});

describe('--resume continues the run it claims to', () => {
  it('refuses a change that alters the training, naming each key; lets through what does not; --allow-config-change accepts', async () => {
    const dir = tmp('resume');
    await trainDetector(config({ max_iter: 3 }), { outDir: dir, stopAfter: 1, log: quiet });
    const before = snapshot(dir);
    const last = runPaths(dir).lastCheckpoint;

    const changed = await rejection(trainDetector(config({ max_iter: 5, lr: 2e-3 }), { outDir: dir, resume: true, log: quiet }));
    expect(changed).toBeInstanceOf(DensekitError);
    expect(changed.message).toContain(`${last}: the config differs from the one this run was trained with`);
    expect(changed.message).toContain('train.optimizer.lr 0.001 → 0.002');
    expect(changed.message).toContain('train.max_iter 3 → 5');
    expect(changed.message).toContain('--allow-config-change');
    expect(snapshot(dir)).toEqual(before);

    // A model change is named as a key, never as the list of tensors that no longer fit.
    const model = await rejection(trainDetector(config({ max_iter: 3, fc_dim: 32 }), { outDir: dir, resume: true, log: quiet }));
    expect(model.message).toContain('model.roi_heads.fc_dim 64 → 32');
    expect(model.message).not.toContain('\n');
    const forced = await rejection(trainDetector(config({ max_iter: 3, fc_dim: 32 }), { outDir: dir, resume: true, allowConfigChange: true, log: quiet }));
    expect(forced).toBeInstanceOf(DensekitError);
    expect(forced.message).toContain('does not fit the model');
    expect(forced.message).not.toContain('\n');
    expect(snapshot(dir)).toEqual(before);

    const allowed: string[] = [];
    const r1 = await trainDetector(config({ max_iter: 3, lr: 2e-3 }), { outDir: dir, resume: true, allowConfigChange: true, stopAfter: 2, log: (l) => allowed.push(l) });
    expect(r1.totals).toHaveLength(1);
    expect(allowed).toContain('resuming with a changed config (--allow-config-change): train.optimizer.lr 0.001 → 0.002');

    const neutral: string[] = [];
    const r2 = await trainDetector(config({ max_iter: 3, lr: 2e-3, log_period: 2 }), { outDir: dir, resume: true, log: (l) => neutral.push(l) });
    expect(r2.totals).toHaveLength(1);
    expect(neutral).toContain('resuming with changed settings that do not alter the training: train.log_period 1 → 2');
  });

  it('train --help documents --allow-config-change', () => {
    const r = runCli(['train', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--allow-config-change\s+with --resume: continue even though the config changes/);
  });
});

describe('no debris from kills', () => {
  it("temp files of the run's own files are removed when a run resumes, with a note; nothing else is", async () => {
    expect(isTempFileOf(tempFileName(RUN_FILES.lastCheckpoint), RUN_FILES.lastCheckpoint)).toBe(true);
    const dir = tmp('temps');
    await trainDetector(config({ max_iter: 2 }), { outDir: dir, stopAfter: 1, log: quiet });
    const stale = ['.last.safetensors.4242.0123456789ab.tmp', '.metrics.jsonl.7.abcdef012345.tmp', '.model_final.safetensors.1.000000000000.tmp'];
    const others = ['.notes.txt.1.0123456789ab.tmp', 'last.safetensors.tmp', '.last.safetensors.x.0123456789ab.tmp', 'mine.tmp'];
    for (const f of [...stale, ...others]) writeFileSync(join(dir, f), 'x');
    const lines: string[] = [];
    await trainDetector(config({ max_iter: 2 }), { outDir: dir, resume: true, log: (l) => lines.push(l) });
    expect(lines).toContain(`removed 3 temp files left by an interrupted run: ${[...stale].sort().join(', ')}`);
    const left = readdirSync(dir);
    for (const f of stale) expect(left).not.toContain(f);
    for (const f of others) expect(left).toContain(f);
  });
});

describe('a stage is complete only with its evaluation', () => {
  it('a run cut short in its final evaluation is not complete; resume runs the evaluation again, once', async () => {
    const dir = tmp('final-eval');
    const cfg = config({ max_iter: 2, val: true });
    const cut = await rejection(
      runTraining(cfg, { outDir: dir, log: quiet }, () => ({
        ...detectorTask(cfg, quiet),
        evaluate: () => Promise.reject(new Error('killed during the final evaluation')),
      })),
    );
    expect(cut.message).toBe('killed during the final evaluation');
    expect(existsSync(runPaths(dir).finalWeights)).toBe(false);
    expect(existsSync(runPaths(dir).evaluation)).toBe(false);
    // A kill right after the evaluation's metrics line was written leaves that line behind.
    appendFileSync(runPaths(dir).metrics, `${JSON.stringify({ iter: 2, type: 'eval', bbox_AP: 0.5 })}\n`);

    const lines: string[] = [];
    const r = await trainDetector(cfg, { outDir: dir, resume: true, log: (l) => lines.push(l) });
    expect(lines).toContain(`resumed from ${runPaths(dir).lastCheckpoint} at iteration 2`);
    expect(r.totals).toEqual([]);
    expect(r.evaluation).toBeDefined();
    expect(existsSync(runPaths(dir).evaluation)).toBe(true);
    expect(existsSync(runPaths(dir).finalWeights)).toBe(true);
    const evals = readMetrics(dir).filter((m) => m.type === 'eval');
    expect(evals.map((m) => m.iter)).toEqual([2]);
    expect(evals[0]!.bbox_AP).toBe(r.evaluation!.scalars.bbox_AP);
  });

  it('MetricsLog drops an evaluation record at the resumed iteration only when that evaluation runs again', () => {
    const dir = tmp('metrics');
    const lines = [{ iter: 1, total_loss: 2 }, { iter: 2, total_loss: 1 }, { iter: 2, type: 'eval', bbox_AP: 0.1 }];
    const write = () => writeFileSync(runPaths(dir).metrics, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    write();
    new MetricsLog(runPaths(dir).metrics, 2);
    expect(readMetrics(dir)).toHaveLength(3);
    write();
    new MetricsLog(runPaths(dir).metrics, 2, { evaluationAgain: true });
    expect(readMetrics(dir).map((m) => m.type ?? 'train')).toEqual(['train', 'train']);
  });

  it('a staged recipe holds its folder through its stages, refuses a busy one, and resumes a stage whose evaluation is missing', async () => {
    const root = join(tmp('recipe'), 'run');
    const yaml = join(tmp('recipe-cfg'), 'recipe.yaml');
    writeFileSync(
      yaml,
      [
        `_base_: ${JSON.stringify(DEMO)}`,
        'input: { train_size: 64, test_size: 64, square_pad: 64 }',
        `data: { train: { images: ${JSON.stringify(join(data.dir, 'train'))}, annotations: ${JSON.stringify(data.train)} }, val: { images: ${JSON.stringify(join(data.dir, 'val'))}, annotations: ${JSON.stringify(data.val)} } }`,
        'train: { max_iter: 1, ims_per_batch: 1 }',
        'stages: [{ name: only }]',
        '',
      ].join('\n'),
    );
    const loaded = loadConfig(yaml);
    const stageDir = join(root, 'only');

    // The parent of this test process is alive on this host: another owner.
    mkdirSync(root, { recursive: true });
    lockOf(root, { pid: process.ppid, host: hostname() });
    const busy = await rejection(runRecipe(loaded, { outDir: root, log: quiet }));
    expect(busy.message).toContain(`${root}: in use by another training (pid ${process.ppid}`);
    expect(existsSync(stageDir)).toBe(false);
    rmSync(runPaths(root).lock);

    const heldDuringStage: boolean[] = [];
    await runRecipe(loaded, { outDir: root, log: (l) => (l.startsWith('stage only:') ? heldDuringStage.push(existsSync(runPaths(root).lock)) : undefined) });
    expect(heldDuringStage).toEqual([true]);
    expect(existsSync(runPaths(root).lock)).toBe(false);
    expect(existsSync(runPaths(stageDir).lock)).toBe(false);

    // What a kill during the final evaluation left before the final weights came last.
    rmSync(runPaths(stageDir).evaluation);
    const lines: string[] = [];
    const held: boolean[] = [];
    await runRecipe(loaded, {
      outDir: root,
      resume: true,
      log: (l) => {
        lines.push(l);
        if (l.startsWith('resumed from')) held.push(existsSync(runPaths(root).lock) && existsSync(runPaths(stageDir).lock));
      },
    });
    expect(lines.some((l) => l.includes('already complete'))).toBe(false);
    expect(held).toEqual([true]);
    expect(existsSync(runPaths(stageDir).evaluation)).toBe(true);

    const again: string[] = [];
    await runRecipe(loaded, { outDir: root, resume: true, log: (l) => again.push(l) });
    expect(again).toContain(`stage only: already complete (${runPaths(stageDir).finalWeights})`);
    // A complete stage is compared too: a changed config is not silently taken as done.
    const changed = await rejection(runRecipe(loadConfig(yaml, ['train.optimizer.lr=0.5']), { outDir: root, resume: true, log: quiet }));
    expect(changed.message).toContain('train.optimizer.lr 0.001 → 0.5');
  });
});
