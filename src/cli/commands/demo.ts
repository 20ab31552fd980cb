import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { writeShapesDataset } from '../../data/synthesize.js';
import { runRecipe } from '../../tasks/recipe.js';
import { writeReport } from '../../vis/report.js';
import { runPaths } from '../../train/run-folder.js';
import { action } from '../run-action.js';

const DEMO_CONFIG = fileURLToPath(new URL('../../../configs/demo/mask_rcnn_tiny_synth.yaml', import.meta.url));

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('synthesize a shapes dataset, train a tiny detector on CPU, evaluate it and write predictions to out/demo/')
    .option('-o, --out <dir>', 'demo folder', 'out/demo')
    .option('--set <key=value...>', 'override a key of the demo config (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .action(
      action(async (opts: { out: string; set: string[] }) => {
        const t0 = performance.now();
        const out = resolve(opts.out);
        const data = join(out, 'data');
        process.stderr.write(`${describeBackend(await initBackend())}\n`);
        if (!existsSync(join(data, 'annotations', 'instances_val.json'))) {
          process.stderr.write(`1/3 writing a synthetic shapes dataset to ${data}\n`);
          await writeShapesDataset({ out: data, trainImages: 400, valImages: 60, size: 128, seed: 0 });
        } else process.stderr.write(`1/3 using the synthetic dataset in ${data}\n`);
        const overrides = [
          `data.train.images=${join(data, 'train')}`,
          `data.train.annotations=${join(data, 'annotations', 'instances_train.json')}`,
          `data.val.images=${join(data, 'val')}`,
          `data.val.annotations=${join(data, 'annotations', 'instances_val.json')}`,
          `output_dir=${join(out, 'run')}`,
          ...opts.set,
        ];
        const loaded = loadConfig(DEMO_CONFIG, overrides);
        process.stderr.write(`2/3 training a tiny BEiT-3 ViTDet Mask R-CNN (${loaded.config.train.max_iter} iterations)\n`);
        const results = await runRecipe(loaded, { verbose: Boolean(process.stderr.isTTY) });
        const r = results.get('main')!;
        process.stderr.write('3/3 evaluated on the held-out split; drawing predictions and writing the report\n');
        const run = runPaths(join(out, 'run'));
        const report = await writeReport(join(out, 'run'), { limit: 16 });
        const e = r.evaluation!;
        process.stdout.write(`\n${e.summary}`);
        const minutes = ((performance.now() - t0) / 60000).toFixed(1);
        process.stdout.write(
          `\nbox AP ${(e.scalars.bbox_AP! * 100).toFixed(1)}${e.scalars.segm_AP !== undefined ? `, mask AP ${(e.scalars.segm_AP * 100).toFixed(1)}` : ''} on ${60} held-out images, ${minutes} min\n` +
            `report:       ${report}  (open it in a browser)\n` +
            `drawings:     ${join(run.report, 'gallery')}\n` +
            `weights:      ${r.finalCheckpoint}\npredictions:  ${run.valPredictions}\nmetrics log:  ${run.metrics}\n`,
        );
      }),
    );
}
