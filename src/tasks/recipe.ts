import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveStage, type LoadedConfig } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { DensekitError } from '../util/errors.js';
import type { TrainOptions, TrainResult } from '../train/trainer.js';
import { runComplete, runPaths } from '../train/run-folder.js';
import { acquireRunLock } from '../train/run-lock.js';
import { checkResumeConfig } from '../train/resume-check.js';
import { taskFor } from './index.js';

export interface RecipeOptions {
  outDir?: string;
  resume?: boolean;
  /** With `resume`: accept a config that changes the training (the CLI's --allow-config-change). */
  allowConfigChange?: boolean;
  verbose?: boolean;
  log?: (line: string) => void;
}

/**
 * Run a config: one training run, or each stage of a staged recipe in
 * order, each in `<out>/<stage>/`. A stage whose `load_from` is
 * `stage:<name>` starts from that stage's final weights (heads whose shape
 * changed — a new class count — are re-initialised and reported). With
 * `resume`, complete stages (final weights and evaluation) are skipped —
 * once their stored config is found to match — and the current one
 * continues. A staged recipe holds its top folder for its whole length
 * (and each stage's run holds its own folder while it trains).
 */
export async function runRecipe(loaded: LoadedConfig, opts: RecipeOptions = {}): Promise<Map<string, TrainResult>> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const outDir = opts.outDir ?? loaded.config.output_dir;
  const { stages, ...single } = loaded.config;
  const base = { resume: opts.resume, allowConfigChange: opts.allowConfigChange, verbose: opts.verbose, log };
  if (stages.length === 0) return new Map([['main', await trainRun(single as RunConfig, { outDir, ...base })]]);
  const lock = acquireRunLock(outDir, log);
  try {
    return await runStages(loaded, outDir, base);
  } finally {
    lock.release();
  }
}

async function runStages(loaded: LoadedConfig, outDir: string, base: Omit<TrainOptions, 'outDir'> & { log: (line: string) => void }): Promise<Map<string, TrainResult>> {
  const { log } = base;
  const results = new Map<string, TrainResult>();
  const stages = loaded.config.stages;
  for (const s of stages) {
    const cfg = resolveStage(loaded, s.name);
    const { name: _n, ...run } = cfg;
    const dir = join(outDir, s.name);
    const finalWeights = runPaths(dir).finalWeights;
    if (base.resume && runComplete(dir, run.data.val !== null)) {
      checkResumeConfig(finalWeights, run, { allowChange: base.allowConfigChange, log });
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
    results.set(s.name, await trainRun(run, { ...base, outDir: dir, initFrom, stage: s.name }));
  }
  return results;
}

/** Train one run with the trainer of its model's kind. */
export function trainRun(cfg: RunConfig, opts: TrainOptions): Promise<TrainResult> {
  return taskFor(cfg).train(opts);
}
