import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor } from '../engine/tf.js';
import type { RunConfig } from '../config/schema.js';
import { dumpConfig } from '../config/load.js';
import { DensekitError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { progress } from '../util/progress.js';
import { AdamW, clipGradNorm } from './adamw.js';
import { buildParamSpecs } from './param-groups.js';
import type { Module } from '../engine/module.js';
import { lrFactor } from './schedule.js';
import { lossAndGradients } from './step.js';
import { readCheckpoint, saveCheckpoint, toTensors } from '../io/checkpoint.js';
import type { TaskEvaluation, TrainTask } from './task.js';
import { MetricsLog } from './metrics-log.js';
import { clearRunState, RUN_FILES, removeStaleTempFiles, runPaths, writeEvalRecord } from './run-folder.js';
import { acquireRunLock } from './run-lock.js';
import { checkResumeConfig } from './resume-check.js';

export interface TrainOptions {
  outDir: string;
  /** Continue from `outDir/last.safetensors` (model, optimizer, schedule, data order, rng). */
  resume?: boolean;
  /**
   * With `resume`: accept a config that changes the training (see
   * config-change.ts) instead of refusing it. The CLI's --allow-config-change.
   */
  allowConfigChange?: boolean;
  /** Weights to initialise from (overrides train.load_from); shape-mismatched heads are re-initialised. */
  initFrom?: string;
  stage?: string;
  /**
   * Stop after this iteration of the schedule (checkpointing it, as an
   * interruption would): a later `resume` continues the same schedule.
   */
  stopAfter?: number;
  /** Progress bar and log lines (default: on a terminal). */
  verbose?: boolean;
  log?: (line: string) => void;
}

export interface TrainResult {
  finalCheckpoint: string;
  lastLosses: Record<string, number>;
  /** The final evaluation on the validation split, when there is one. */
  evaluation?: TaskEvaluation;
  /** Total loss per iteration run in this call (for tests and reports). */
  totals: number[];
}

function defaultLog(l: string): void {
  process.stderr.write(`${l}\n`);
}

/**
 * Train a task in its run folder, in the order that keeps a previous run
 * in the folder safe from a run that cannot start:
 *  1. take the folder (its run.lock: one owner at a time);
 *  2. with `resume`, compare the checkpoint's config with this one (from
 *     the checkpoint's header) and refuse a change that alters the training;
 *  3. `prepare` the task: data, model, pretrained weights — everything that
 *     refuses bad input;
 *  4. read the checkpoint or the starting weights;
 * and only then write into the folder. The lock is released however this ends.
 */
export async function runTraining(cfg: RunConfig, opts: TrainOptions, prepare: () => TrainTask | Promise<TrainTask>): Promise<TrainResult> {
  const log = opts.log ?? defaultLog;
  const lock = acquireRunLock(opts.outDir, log);
  try {
    const resuming = opts.resume === true && resumable(cfg, opts, log);
    const task = await prepare();
    return await train(task, cfg, { ...opts, resume: resuming }, log);
  } finally {
    lock.release();
  }
}

/** Whether there is a checkpoint to resume from, with a config this run may continue (else a DensekitError). */
function resumable(cfg: RunConfig, opts: TrainOptions, log: (line: string) => void): boolean {
  const last = runPaths(opts.outDir).lastCheckpoint;
  if (!existsSync(last)) {
    log(`nothing to resume in ${opts.outDir} (no ${RUN_FILES.lastCheckpoint}): starting from the beginning`);
    return false;
  }
  checkResumeConfig(last, cfg, { allowChange: opts.allowConfigChange, log });
  return true;
}

/**
 * Load a checkpoint's model tensors. A model whose shapes differ from the
 * checkpoint's (a config change let through) is one line naming the first
 * difference, not a list of every tensor.
 */
function loadResumedModel(model: Module, state: Map<string, Tensor>, file: string): void {
  try {
    model.loadStateDict(state);
  } catch (err) {
    const [head, ...lines] = (err as Error).message.split('\n');
    const first = lines[0]?.trim();
    throw new DensekitError(`the checkpoint does not fit the model the config builds (${head!.replace(/:$/, '')}: ${lines.length} tensors${first ? `, first ${first}` : ''})`, { file });
  }
}

/**
 * The training loop shared by every task: AdamW with layer-wise decay,
 * warmup + schedule, gradient accumulation and clipping, JSONL metrics, a
 * progress bar, atomic checkpoints with everything needed to resume exactly
 * (model, optimizer moments, iteration, data position, generator states),
 * a NaN guard that stops and keeps the last good checkpoint, periodic and
 * final evaluation.
 */
async function train(task: TrainTask, cfg: RunConfig, opts: TrainOptions, log: (line: string) => void): Promise<TrainResult> {
  const t = cfg.train;
  const model = task.model;
  const specs = buildParamSpecs(model, t.optimizer);
  const optimizer = new AdamW(specs, { betas: t.optimizer.betas, eps: t.optimizer.eps });
  const paths = runPaths(opts.outDir);
  const lastPath = paths.lastCheckpoint;
  let startIter = 0;
  let loaderPos = 0;
  if (opts.resume) {
    const ck = readCheckpoint(lastPath);
    if (!ck.meta) throw new DensekitError('not a training checkpoint (no densekit metadata); cannot resume', { file: lastPath });
    const state = toTensors(ck.model);
    try {
      loadResumedModel(model, state, lastPath);
    } finally {
      for (const x of state.values()) x.dispose();
    }
    const ostate = toTensors(ck.optim);
    optimizer.loadState(ostate, ck.meta.optimizerStep);
    for (const x of ostate.values()) x.dispose();
    model.setRngStates(ck.meta.rngStates);
    startIter = ck.meta.iteration;
    loaderPos = ck.meta.loaderPosition;
    log(`resumed from ${lastPath} at iteration ${startIter}`);
  } else {
    const from = opts.initFrom ?? t.load_from;
    if (from) {
      if (from.startsWith('stage:')) throw new DensekitError(`load_from ${from} is only meaningful inside a staged recipe`, { key: 'train.load_from' });
      const ck = readCheckpoint(from, { optimizer: false });
      const state = toTensors(ck.model);
      const report = model.loadStateDict(state, { strict: false, skipMismatched: true });
      for (const x of state.values()) x.dispose();
      log(`initialised from ${from}: ${report.skipped.length} shape-mismatched tensors re-initialised${report.skipped.length ? ` (${report.skipped.map((s) => s.name).join(', ')})` : ''}; ${report.missing.length} missing, ${report.unexpected.length} unused`);
    }
  }
  // Everything is validated and read: from here on the run writes its folder.
  const stale = removeStaleTempFiles(opts.outDir);
  if (stale.length > 0) log(`removed ${stale.length} temp file${stale.length > 1 ? 's' : ''} left by an interrupted run: ${stale.join(', ')}`);
  if (!opts.resume) {
    const previous = clearRunState(opts.outDir);
    if (previous.length > 0) log(`new run in ${opts.outDir}: removed the previous run's ${previous.join(', ')}`);
  }
  // A resume at the end of the schedule runs the final evaluation again (it was cut short, or the run is finished and evaluates anew).
  const finalEvalAgain = opts.resume === true && startIter >= t.max_iter;
  const metricsLog = new MetricsLog(paths.metrics, startIter, { evaluationAgain: finalEvalAgain });
  writeFileAtomic(paths.config, dumpConfig(cfg));
  const stream = task.batches(loaderPos);
  const bar = progress(`train${opts.stage ? ` ${opts.stage}` : ''}`, t.max_iter - startIter, { enabled: opts.verbose });
  const save = (path: string, iteration: number) =>
    saveCheckpoint(path, model, optimizer, {
      format: 'densekit-checkpoint-1',
      iteration,
      optimizerStep: optimizer.step,
      stage: opts.stage,
      loaderPosition: stream.position,
      rngStates: model.rngStates(),
      config: JSON.stringify(cfg),
    });
  const evaluate = async (iter: number) => {
    if (!task.evaluate) return undefined;
    const e = await task.evaluate();
    metricsLog.write({ iter, type: 'eval', ...e.scalars });
    return e;
  };
  const totals: number[] = [];
  let lastLosses: Record<string, number> = {};
  const t0 = performance.now();
  const endIter = Math.min(t.max_iter, opts.stopAfter ?? t.max_iter);
  for (let it = startIter; it < endIter; it++) {
    const lr = t.optimizer.lr * lrFactor(t.schedule, it, t.max_iter);
    // Gradient accumulation: average the micro-batches' gradients.
    let grads: Map<string, Tensor> | undefined;
    const sums: Record<string, number> = {};
    let total = 0;
    for (let a = 0; a < t.accumulate; a++) {
      const batch = await stream.next();
      const r = lossAndGradients(() => batch.losses(), specs);
      batch.dispose();
      total += r.total / t.accumulate;
      for (const [k, v] of Object.entries(r.losses)) sums[k] = (sums[k] ?? 0) + v / t.accumulate;
      if (!grads) grads = r.grads;
      else {
        for (const [k, g] of r.grads) {
          const prev = grads.get(k);
          grads.set(k, prev ? tf.add(prev, g) : g);
          if (prev) {
            prev.dispose();
            g.dispose();
          }
        }
      }
    }
    if (!Number.isFinite(total)) {
      for (const g of grads!.values()) g.dispose();
      bar.stop();
      const last = existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no checkpoint was written yet';
      throw new DensekitError(`the loss became ${total} at iteration ${it} (${Object.entries(sums).map(([k, v]) => `${k}=${v}`).join(', ')}); training stopped and ${last}`, { key: 'train' });
    }
    if (t.accumulate > 1) for (const [k, g] of grads!) grads!.set(k, tf.tidy(() => tf.div(g, t.accumulate)));
    const gradNorm = t.clip_grad_norm ? clipGradNorm(grads!, t.clip_grad_norm) : undefined;
    optimizer.apply(grads!, lr);
    for (const g of grads!.values()) g.dispose();
    totals.push(total);
    lastLosses = sums;
    const done = it + 1;
    if (done % t.log_period === 0 || done === t.max_iter) {
      metricsLog.write({ iter: done, lr, total_loss: total, ...sums, ...(gradNorm !== undefined ? { grad_norm: gradNorm } : {}), time: (performance.now() - t0) / 1000, rss_mb: process.memoryUsage().rss / 2 ** 20, tensors: tf.memory().numTensors });
    }
    bar.tick(1, { loss: total.toFixed(3), lr: lr.toExponential(2) });
    if (done % t.checkpoint_period === 0 && done < t.max_iter) save(lastPath, done);
    if (t.eval_period > 0 && done % t.eval_period === 0 && done < t.max_iter) await evaluate(done);
  }
  bar.stop();
  const finalPath = paths.finalWeights;
  if (endIter < t.max_iter) {
    save(lastPath, endIter);
    optimizer.dispose();
    model.dispose();
    return { finalCheckpoint: lastPath, lastLosses, totals };
  }
  save(lastPath, t.max_iter);
  const e = await evaluate(t.max_iter);
  if (e) {
    for (const [name, content] of Object.entries(e.files)) writeFileAtomic(join(opts.outDir, name), content);
    writeEvalRecord(opts.outDir, e.record);
  }
  // The final weights come last: they say the run is complete, its evaluation included.
  save(finalPath, t.max_iter);
  optimizer.dispose();
  model.dispose();
  return { finalCheckpoint: finalPath, lastLosses, totals, evaluation: e };
}
