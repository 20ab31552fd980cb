import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { runRecipe } from '../../tasks/recipe.js';
import { action } from '../run-action.js';
import { collect } from './config.js';

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model from a config (a detector or a segmenter; staged recipes run stage by stage)')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .option('-o, --out <dir>', 'output folder (default: output_dir of the config)')
    .option('--resume', 'continue from the last checkpoint in the output folder', false)
    .option(
      '--allow-config-change',
      'with --resume: continue even though the config changes the training (model, input, training data, train.* such as lr, batch, seed, max_iter, schedule); without it such a change is refused, naming each key. Output, logging, checkpoint and evaluation settings may always change',
      false,
    )
    .action(
      action(async (opts: { config: string; set: string[]; out?: string; resume: boolean; allowConfigChange: boolean }) => {
        const loaded = loadConfig(opts.config, opts.set);
        process.stderr.write(`${describeBackend(await initBackend())}\n`);
        const results = await runRecipe(loaded, { outDir: opts.out, resume: opts.resume, allowConfigChange: opts.allowConfigChange });
        for (const [name, r] of results) {
          const scores = r.evaluation ? ` ${Object.entries(r.evaluation.scalars).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}`).join(', ')}` : '';
          process.stdout.write(`${name}: weights ${r.finalCheckpoint}${scores}\n`);
        }
      }),
    );
}
