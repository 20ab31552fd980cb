import { Option, type Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { taskFor } from '../../tasks/index.js';
import { chooseEngine, describeEngine } from '../../tasks/engine.js';
import { addEngineOptions, type EngineOptions } from './engine-options.js';
import { parseCount, parseCountOrZero, parseScore } from '../option-values.js';
import { expandGlobs, listImages, refuseOutputCollisions, refuseOverwritingInputs } from '../../tasks/inputs.js';
import { labelMapName } from '../../tasks/semantic/predict.js';
import { resolveShard } from '../../tasks/shards.js';
import type { TaskKind } from '../../tasks/task.js';
import { DensekitError } from '../../util/errors.js';
import { progressOf } from '../../util/progress.js';
import { action, reportSkipped } from '../run-action.js';
import { collect } from './config.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A path an option names, which must exist and be a file or a folder as `kind` says. */
function requireExisting(path: string, option: string, kind: 'file' | 'folder'): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new DensekitError(`no such ${kind} (${option}; ${(err as NodeJS.ErrnoException).code})`, { file: path });
  }
  if (kind === 'file' && st.isDirectory()) throw new DensekitError(`is a folder; ${option} takes a file`, { file: path });
  if (kind === 'folder' && !st.isDirectory()) throw new DensekitError(`is not a folder; ${option} takes a folder`, { file: path });
}

/**
 * What can be known bad before any work: the files the options name, and
 * an output that is the wrong kind of thing (a detector writes a file, a
 * segmenter a folder).
 */
function checkPaths(opts: PredictCliOptions, kind: TaskKind): void {
  requireExisting(opts.weights, '-w', 'file');
  if (opts.gt !== undefined) requireExisting(opts.gt, '--gt', 'file');
  if (opts.gtDir !== undefined) requireExisting(opts.gtDir, '--gt-dir', 'folder');
  if (kind === 'semantic' && existsSync(opts.out) && !statSync(opts.out).isDirectory()) {
    throw new DensekitError('is a file; a segmenter writes its label maps into a folder (give a folder)', { file: opts.out });
  }
}

interface PredictCliOptions extends EngineOptions {
  config: string;
  weights: string;
  images: string[];
  out: string;
  task?: TaskKind;
  gt?: string;
  gtDir?: string;
  scoreThr: number;
  set: string[];
  shard?: string;
  shards?: number;
  resume: boolean;
  progressEvery: number;
}

export function registerPredict(program: Command): void {
  const cmd = program
    .command('predict')
    .description('run a trained model on images: COCO results JSON (boxes + RLE masks) for a detector, label-map PNGs for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .requiredOption('-i, --images <paths...>', 'image files or folders')
    .requiredOption('-o, --out <path>', 'results JSON to write (detector; a shard writes <stem>.shard-I-of-N.jsonl beside it) or folder for label PNGs (segmenter)')
    .addOption(new Option('--task <task>', 'detection or semantic (default: what the config\'s model does); checked against the config').choices(['detection', 'semantic']))
    .option('--gt <file>', 'detector: COCO file whose image ids and category ids the results should use')
    .option('--score-thr <x>', 'detector: drop detections scoring below this (0 to 1)', parseScore, 0)
    .option('--gt-dir <dir>', 'segmenter: annotation PNGs; each image\'s class areas are recorded, so shards merge to the exact mIoU')
    .option('--shard <I/N>', 'predict only shard I of N (0-based) of the sorted image list: image k goes to shard k mod N')
    .option('--shards <n>', 'shard count for a Kubernetes Indexed Job (the index comes from JOB_COMPLETION_INDEX; or set DENSEKIT_SHARDS)', parseCount)
    .option('--resume', 'continue the log an interrupted run left: images it holds are not predicted again', false)
    .option('--progress-every <n>', 'when stderr is not a terminal, print a progress line every n images (0: never)', parseCountOrZero, 100)
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, []);
  addEngineOptions(cmd);
  cmd.action(
    action(async (opts: PredictCliOptions) => {
      const { config: loaded } = loadConfig(opts.config, opts.set);
      const { stages: _stages, ...run } = loaded;
      const task = taskFor(run);
      if (opts.task !== undefined && opts.task !== task.kind) {
        throw new DensekitError(`--task ${opts.task} needs a ${opts.task === 'semantic' ? 'mask2former' : 'rcnn'} model; the config has model.arch ${run.model.arch}`, { file: opts.config, key: 'model.arch' });
        }
      if (opts.gtDir !== undefined && task.kind !== 'semantic') throw new DensekitError('--gt-dir is for segmenters (a detector takes --gt)');
      if (opts.gt !== undefined && task.kind !== 'detection') throw new DensekitError('--gt is for detectors (a segmenter takes --gt-dir)');
      const shard = resolveShard({ shard: opts.shard, shards: opts.shards });
      checkPaths(opts, task.kind);
      // Patterns are expanded here too: a container's args go through no shell.
      const files = listImages(expandGlobs(opts.images));
      if (files.length === 0) throw new DensekitError('no images found', { file: opts.images.join(' ') });
      // A segmenter names each label map after its image, without the folder.
      if (task.kind === 'semantic') refuseOutputCollisions(files, labelMapName, 'predict each folder into its own -o folder');
      // A shard writes <stem>.shard-I-of-N.jsonl, never an image; an unsharded detector writes -o itself.
      refuseOverwritingInputs(files, task.kind === 'semantic' ? files.map((f) => join(opts.out, labelMapName(f))) : shard ? [] : [opts.out]);
      const engine = await chooseEngine(opts.engine, { device: opts.device, threads: opts.threads, onnxSupported: task.onnx });
      process.stderr.write(`${describeBackend(await initBackend())}\n${describeEngine(engine)}\n`);
      const label = shard ? `predict shard ${shard.index}/${shard.count}` : 'predict';
      const bar = progressOf(label, { every: opts.progressEvery });
      const onStart = (done: number, total: number) => {
        const parts = [shard ? `shard ${shard.index}/${shard.count} (${shard.source}): ${total} images` : `${total} images`];
        if (done > 0) parts.push(`${done} done by an earlier run`);
        process.stderr.write(`${parts.join(', ')}\n`);
        bar.start(done, total);
      };
      const { summary, skipped, notes, resumed, ran } = await task.predict(opts.weights, files, opts.out, {
        gt: opts.gt,
        gtDir: opts.gtDir,
        scoreThreshold: opts.scoreThr,
        onStart,
        onImage: bar.update,
        engine,
        shard,
        resume: opts.resume,
        configFile: opts.config,
      });
      bar.stop();
      for (const n of notes ?? []) process.stderr.write(`densekit: note: ${n}\n`);
      process.stdout.write(`${summary}\n`);
      reportSkipped(skipped, (resumed ?? 0) + (ran ?? 0));
    }),
  );
}
