import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { taskFor } from '../../tasks/index.js';
import { chooseEngine, describeEngine } from '../../tasks/engine.js';
import { parseCount, type EngineOptions } from './engine-options.js';
import { listImages } from '../../tasks/inputs.js';
import type { SkippedImage } from '../../tasks/task.js';
import { DensekitError } from '../../util/errors.js';
import { progressOf } from '../../util/progress.js';
import { action } from '../run-action.js';
import { collect } from './config.js';

function reportSkipped(skipped: SkippedImage[]): void {
  if (skipped.length === 0) return;
  for (const f of skipped) process.stderr.write(`densekit: skipped ${f.file}: ${f.reason}\n`);
  process.exitCode = 1;
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('run a trained model on images: COCO results JSON (boxes + RLE masks) for a detector, label-map PNGs for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .requiredOption('-i, --images <paths...>', 'image files or folders')
    .requiredOption('-o, --out <path>', 'results JSON to write (detector) or folder for label PNGs (segmenter)')
    .option('--task <task>', 'detection or semantic (default: what the config\'s model does); checked against the config')
    .option('--gt <file>', 'detector: COCO file whose image ids and category ids the results should use')
    .option('--score-thr <x>', 'detector: drop detections scoring below this', Number.parseFloat, 0)
    .option('--engine <name>', 'onnx or tfjs (default: onnx when onnxruntime-node loads)')
    .option('--device <name>', 'onnx engine: cpu, webgpu or cuda', 'cpu')
    .option('--threads <n>', 'onnx engine: CPU threads (default: all cores)', parseCount)
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .action(
      action(async (opts: { config: string; weights: string; images: string[]; out: string; task?: string; gt?: string; scoreThr: number; set: string[] } & EngineOptions) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...run } = loaded;
        const task = taskFor(run);
        if (opts.task !== undefined && opts.task !== task.kind) {
          if (opts.task !== 'semantic' && opts.task !== 'detection') throw new DensekitError(`--task must be detection or semantic, got ${opts.task}`);
          throw new DensekitError(`--task ${opts.task} needs a ${opts.task === 'semantic' ? 'mask2former' : 'rcnn'} model; the config has model.arch ${run.model.arch}`, { file: opts.config, key: 'model.arch' });
        }
        const files = listImages(opts.images);
        if (files.length === 0) throw new DensekitError('no images found', { file: opts.images.join(' ') });
        const engine = await chooseEngine(opts.engine, { device: opts.device, threads: opts.threads, onnxSupported: task.onnx });
        process.stderr.write(`${describeBackend(await initBackend())}\n${describeEngine(engine)}\n`);
        const bar = progressOf('predict');
        const { summary, skipped } = await task.predict(opts.weights, files, opts.out, { gt: opts.gt, scoreThreshold: opts.scoreThr, onImage: bar.update, engine });
        bar.stop();
        process.stdout.write(`${summary}\n`);
        reportSkipped(skipped);
      }),
    );
}
