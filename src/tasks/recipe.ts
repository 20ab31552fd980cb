import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveStage, type LoadedConfig } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { DensekitError } from '../util/errors.js';
import type { TrainOptions, TrainResult } from '../train/trainer.js';
import { runPaths } from '../train/run-folder.js';
import { taskFor } from './index.js';

export interface RecipeOptions {
  outDir?: string;
  resume?: boolean;
  verbose?: boolean;
  log?: (line: string) => void;
}

/**
 * Run a config: one training run, or each stage of a staged recipe in
 * order, each in `<out>/<stage>/`. A stage whose `load_from` is
 * `stage:<name>` starts from that stage's final weights (heads whose shape
 * changed — a new class count — are re-initialised and reported). With
 * `resume`, finished stages are skipped and the current one continues.
 */
export async function runRecipe(loaded: LoadedConfig, opts: RecipeOptions = {}): Promise<Map<string, TrainResult>> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const outDir = opts.outDir ?? loaded.config.output_dir;
  const results = new Map<string, TrainResult>();
  const { stages, ...single } = loaded.config;
  if (stages.length === 0) {
    results.set('main', await trainRun(single as RunConfig, { outDir, resume: opts.resume, verbose: opts.verbose, log }));
    return results;
  }
  for (const s of stages) {
    const cfg = resolveStage(loaded, s.name);
    const dir = join(outDir, s.name);
    const finalWeights = runPaths(dir).finalWeights;
    if (opts.resume && existsSync(finalWeights)) {
      log(`stage ${s.name}: already complete (${finalWeights})`);
      continue;
    }
    let initFrom: string | undefined;
    const from = cfg.train.load_from;
    if (from?.startsWith('stage:')) {
      const prev = from.slice('stage:'.length);
      if (!stages.some((x) => x.name === prev)) throw new DensekitError(`load_from names stage "${prev}", which the recipe does not have`, { file: loaded.file, key: `stages.${s.name}.train.load_from` });
      initFrom = runPaths(join(outDir, prev)).finalWeights;
      if (!existsSync(initFrom)) throw new DensekitError(`stage "${prev}" has not finished (no ${initFrom})`, { file: loaded.file, key: `stages.${s.name}.train.load_from` });
    }
    log(`stage ${s.name}: ${cfg.train.max_iter} iterations → ${dir}`);
    const { name: _n, ...run } = cfg;
    results.set(s.name, await trainRun(run, { outDir: dir, resume: opts.resume, initFrom, stage: s.name, verbose: opts.verbose, log }));
  }
  return results;
}

/** Train one run with the trainer of its model's kind. */
export function trainRun(cfg: RunConfig, opts: TrainOptions): Promise<TrainResult> {
  return taskFor(cfg).train(opts);
}
