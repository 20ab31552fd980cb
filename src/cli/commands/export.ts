import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { taskFor } from '../../tasks/index.js';
import { action } from '../run-action.js';
import { collect } from './config.js';
import { parseCount } from '../option-values.js';

export function registerExport(program: Command): void {
  const cmd = program.command('export').description('export a trained model for other runtimes');
  cmd
    .command('onnx')
    .description("a model's dense stages as ONNX graphs (opset 17), with a manifest and a Python onnxruntime snippet")
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .requiredOption('-o, --out <dir>', 'folder to write the graphs into')
    .option('--size <n>', 'padded input side the graph is for (default: what the config pads test images to)', parseCount)
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .action(
      action(async (opts: { config: string; weights: string; out: string; size?: number; set: string[] }) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...run } = loaded;
        const task = taskFor(run);
        process.stderr.write(`${describeBackend(await initBackend())}\n`);
        const t0 = performance.now();
        const { files } = await task.exportOnnx(opts.weights, opts.out, opts.size);
        process.stdout.write(`${files.map((f) => `  ${f}`).join('\n')}\nexported in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      }),
    );
}
