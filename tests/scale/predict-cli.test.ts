import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import { isDetectorConfig } from '../../src/config/schema.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import { writeSemanticDataset, writeShapesDataset } from '../../src/data/synthesize.js';
import { runCli, type CliResult } from '../helpers/cli.js';

/**
 * Prediction at scale, run as the CLI: a kill -9 in the middle and a resume
 * give the uninterrupted run's file; three shard processes (one per way of
 * naming the shard: --shard, a Slurm array, a Kubernetes Indexed Job) merge
 * into it and evaluate to its numbers; semantic shards merge to the mIoU of
 * their label maps. The models are untrained (random weights): what is
 * compared is the files, not the quality.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const MAIN = join(ROOT, 'src/cli/main.ts');
/** No scheduler variables from the environment the tests run in. */
const NO_SCHEDULER = { SLURM_ARRAY_TASK_ID: '', SLURM_ARRAY_TASK_COUNT: '', SLURM_ARRAY_TASK_MIN: '', SLURM_ARRAY_TASK_MAX: '', JOB_COMPLETION_INDEX: '', DENSEKIT_SHARDS: '', DENSEKIT_NO_PROGRESS: '' };

function ok(r: CliResult): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

/** The CLI as a child process that runs alongside the test. */
function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...NO_SCHEDULER, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((res) => child.on('close', (status, signal) => res({ status, signal, stdout, stderr })));
  return { child, done };
}

function cli(args: string[], env: Record<string, string> = {}): CliResult {
  return runCli(args, { env: { ...NO_SCHEDULER, ...env }, timeoutMs: 300_000 });
}

const lines = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean).length : 0);

async function randomWeights(config: string, sets: string[], out: string): Promise<void> {
  await initBackend();
  const { config: c } = loadConfig(config, sets);
  const { stages: _s, ...run } = c;
  const noPretrained = { ...run.model.backbone, pretrained: null };
  const model = isDetectorConfig(run)
    ? new GeneralizedRCNN({ ...run.model, backbone: noPretrained }, run.input, 7)
    : new Mask2Former({ ...(run.model as Extract<typeof run.model, { arch: 'mask2former' }>), backbone: noPretrained }, run.input, 7);
  saveCheckpoint(out, model, undefined, { format: 'densekit-checkpoint-1', iteration: 0, optimizerStep: 0, loaderPosition: 0, rngStates: [], config: JSON.stringify(run) });
  model.dispose();
}

describe('sharded, resumable detector prediction', () => {
  let dir: string;
  const cfg = 'configs/demo/mask_rcnn_tiny_synth.yaml';
  const sets = ['input.test_size=96', 'input.square_pad=96', 'input.train_size=96'];
  const setArgs = sets.flatMap((s) => ['--set', s]);
  let base: string[];
  let gt: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-scale-det-'));
    process.env.DENSEKIT_CACHE = join(dir, 'cache');
    await writeShapesDataset({ out: join(dir, 'data'), trainImages: 1, valImages: 24, size: 96, seed: 5 });
    const weights = join(dir, 'w.safetensors');
    await randomWeights(cfg, sets, weights);
    gt = join(dir, 'data', 'annotations', 'instances_val.json');
    // One onnxruntime thread: the same numbers in every process, whatever runs beside it.
    base = ['predict', '-c', cfg, '-w', weights, '-i', join(dir, 'data', 'val'), '--gt', gt, '--threads', '1', ...setArgs];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('kill -9 mid-run, then --resume: the uninterrupted run\'s file; 3 shard processes merge into it and evaluate alike', async () => {
    const ref = join(dir, 'ref.json');
    const first = cli([...base, '-o', ref, '--progress-every', '10']);
    ok(first);
    // Off a terminal: a plain progress line every 10 images, and one at the end.
    expect(first.stderr).toMatch(/^predict: 10\/24 images \(41\.7%\), .*ETA/m);
    expect(first.stderr).toMatch(/^predict: 24\/24 images \(100\.0%\)/m);
    const refList = JSON.parse(readFileSync(ref, 'utf8')) as { image_id: number; score: number }[];
    expect(refList.length).toBeGreaterThan(24);
    expect(existsSync(`${ref}.log`)).toBe(false);

    // Killed once its log holds 4 images.
    const out = join(dir, 'killed.json');
    const run = start([...base, '-o', out]);
    const log = `${out}.log`;
    while (lines(log) < 5) {
      if (run.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    run.child.kill('SIGKILL');
    const killed = await run.done;
    expect(killed.signal, `the run ended before it was killed:\n${killed.stderr}`).toBe('SIGKILL');
    expect(existsSync(out)).toBe(false);
    const kept = lines(log) - 1;
    expect(kept).toBeGreaterThanOrEqual(4);
    expect(kept).toBeLessThan(24);
    const resumed = cli([...base, '-o', out, '--resume']);
    expect(ok(resumed)).toMatch(new RegExp(`from the log of an earlier run`));
    expect(resumed.stderr).toMatch(new RegExp(`24 images, ${kept} done by an earlier run`));
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(ref, 'utf8'));
    expect(existsSync(log)).toBe(false);

    // Three shards as three processes, the shard told three ways.
    const shards = join(dir, 'shards', 'val.json');
    const runs = [
      start([...base, '-o', shards, '--shard', '0/3']),
      start([...base, '-o', shards], { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' }),
      start([...base, '-o', shards, '--shards', '3'], { JOB_COMPLETION_INDEX: '2' }),
    ];
    const results = await Promise.all(runs.map((r) => r.done));
    results.forEach((r) => expect(r.status, r.stderr).toBe(0));
    expect(results[1]!.stderr).toMatch(/shard 1\/3 \(SLURM_ARRAY_TASK_ID=1, SLURM_ARRAY_TASK_COUNT=3\): 8 images/);
    expect(results[2]!.stderr).toMatch(/shard 2\/3 \(JOB_COMPLETION_INDEX=2, --shards 3\): 8 images/);
    expect(readdirSync(join(dir, 'shards')).sort()).toEqual(['val.shard-0-of-3.jsonl', 'val.shard-1-of-3.jsonl', 'val.shard-2-of-3.jsonl']);

    const merged = join(dir, 'merged.json');
    expect(ok(cli(['merge', join(dir, 'shards', 'val.shard-*.jsonl'), '-o', merged]))).toMatch(/merged 3 shards .*: \d+ detections on 24 images/);
    const sort = (l: { image_id: number; score: number }[]) => JSON.stringify([...l].sort((a, b) => a.image_id - b.image_id || b.score - a.score));
    const mergedList = JSON.parse(readFileSync(merged, 'utf8')) as { image_id: number; score: number }[];
    expect(sort(mergedList)).toBe(sort(refList));
    // In the unsharded run's order, even: the same bytes.
    expect(readFileSync(merged, 'utf8')).toBe(readFileSync(ref, 'utf8'));

    // The shards evaluated directly (a glob, no merge) score what the single run scores.
    for (const iou of ['bbox', 'segm']) {
      const a = join(dir, `ref_${iou}.json`);
      const b = join(dir, `shards_${iou}.json`);
      ok(cli(['eval', 'coco', '--gt', gt, '--dt', ref, '--iou-type', iou, '--json', a]));
      const e = cli(['eval', 'coco', '--gt', gt, '--dt', join(dir, 'shards', '*.jsonl'), '--iou-type', iou, '--json', b, '--group-detections', '40']);
      expect(ok(e)).toMatch(/Average Precision/);
      expect(e.stderr).toMatch(/3 shards of one run/);
      const ra = JSON.parse(readFileSync(a, 'utf8')) as { stats: number[]; perCategory: unknown[] };
      const rb = JSON.parse(readFileSync(b, 'utf8')) as { stats: number[]; perCategory: unknown[] };
      expect(rb.stats).toEqual(ra.stats);
      expect(rb.perCategory).toEqual(ra.perCategory);
    }

    // A finished shard asked to resume has nothing to do.
    expect(ok(cli([...base, '-o', shards, '--shard', '0/3', '--resume']))).toMatch(/already complete/);
    // A shard of another run (another score threshold) is refused at merge, saying why.
    const other = join(dir, 'other', 'val.json');
    ok(cli([...base, '-o', other, '--shard', '1/3', '--score-thr', '0.5']));
    const refused = cli(['merge', join(dir, 'shards', 'val.shard-0-of-3.jsonl'), join(dir, 'other', 'val.shard-1-of-3.jsonl'), join(dir, 'shards', 'val.shard-2-of-3.jsonl'), '-o', join(dir, 'bad.json')]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/shards of different runs: options differ/);
    expect(existsSync(join(dir, 'bad.json'))).toBe(false);
    const missing = cli(['merge', join(dir, 'shards', 'val.shard-[01]-of-3.jsonl'), '-o', join(dir, 'bad.json')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/missing shard 2 of 3/);
  }, 600_000);
});

describe('sharded semantic prediction', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-scale-seg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('two shards write label maps into one folder and their areas merge to the exact mIoU of eval ade20k, classes named alike', async () => {
    const cfg = 'configs/demo/mask2former_adapter_tiny_synth.yaml';
    const sets = ['input.test_size=64', 'input.train_size=64', 'model.backbone.pretrain_img_size=64'];
    await writeSemanticDataset({ out: join(dir, 'data'), trainImages: 1, valImages: 6, size: 64, seed: 2 });
    const weights = join(dir, 'w.safetensors');
    await randomWeights(cfg, sets, weights);
    const images = join(dir, 'data', 'images', 'validation');
    const gtDir = join(dir, 'data', 'annotations', 'validation');
    const pred = join(dir, 'pred');
    const args = ['predict', '-c', cfg, '-w', weights, '-i', images, '-o', pred, '--gt-dir', gtDir, ...sets.flatMap((s) => ['--set', s])];
    const runs = [start([...args, '--shard', '0/2']), start(args, { JOB_COMPLETION_INDEX: '1', DENSEKIT_SHARDS: '2' })];
    for (const r of await Promise.all(runs.map((x) => x.done))) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/3 label maps .*mIoU .* over 3 images of this shard/);
    }
    expect(readdirSync(pred).filter((f) => f.endsWith('.png')).sort()).toEqual(readdirSync(gtDir).sort());
    const merged = join(dir, 'merged.json');
    expect(ok(cli(['merge', join(pred, 'predictions.shard-*.jsonl'), '-o', merged]))).toMatch(/merged 2 shards .*: 6 label maps/);
    const fromFiles = join(dir, 'files.json');
    ok(cli(['eval', 'ade20k', '--gt-dir', gtDir, '--pred-dir', pred, '--num-classes', '5', '--reduce-zero-label', '--json', fromFiles]));
    const a = JSON.parse(readFileSync(merged, 'utf8')) as { mIoU: number; aAcc: number; mAcc: number; images: number; perClass: { name: string }[] };
    const b = JSON.parse(readFileSync(fromFiles, 'utf8')) as typeof a;
    expect(a).toEqual(b);
    // Both name the classes by the data's classes.json (the shards record their annotations' folder).
    expect(a.perClass.map((c) => c.name)).toEqual(JSON.parse(readFileSync(join(dir, 'data', 'classes.json'), 'utf8')));
  }, 600_000);
});
