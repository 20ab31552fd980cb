import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DensekitError } from '../util/errors.js';
import { isTempFileOf, writeFileAtomic } from '../util/atomic-write.js';

/**
 * What a training run writes into its folder, and in which format: the one
 * place that names these files. The trainer writes them, the report and the
 * CLI read them.
 *
 *   config.yaml             the effective config (defaults filled in)
 *   metrics.jsonl           one JSON record per line: training and evaluation
 *   last.safetensors        the checkpoint to resume from (model, optimizer, metadata)
 *   model_final.safetensors the trained model at the end of the schedule
 *   eval.json               the final evaluation's numbers
 *   predictions_val.json    a detector's COCO results on the validation split
 *   report/                 the HTML report and its pictures
 *   run.lock                who is training in the folder now (see run-lock.ts)
 *
 * model_final.safetensors is written last, after the final evaluation: its
 * presence says the run is complete.
 */
export const RUN_FILES = {
  config: 'config.yaml',
  metrics: 'metrics.jsonl',
  lastCheckpoint: 'last.safetensors',
  finalWeights: 'model_final.safetensors',
  evaluation: 'eval.json',
  valPredictions: 'predictions_val.json',
  report: 'report',
  lock: 'run.lock',
} as const;

export type RunFile = keyof typeof RUN_FILES;

/** Paths of a run folder's files. */
export function runPaths(dir: string): { readonly [K in RunFile]: string } {
  return Object.fromEntries(Object.entries(RUN_FILES).map(([k, name]) => [k, join(dir, name)])) as { [K in RunFile]: string };
}

/**
 * Whether the run in `dir` is complete: its final weights are there and,
 * when it evaluates, its evaluation too (a run written before the final
 * weights came last can have the weights without the evaluation).
 */
export function runComplete(dir: string, evaluates: boolean): boolean {
  const p = runPaths(dir);
  return existsSync(p.finalWeights) && (!evaluates || existsSync(p.evaluation));
}

/**
 * Remove the temp files that writes of the run's own files left behind when
 * killed before their rename (see writeFileAtomic); nothing else in the
 * folder is touched. Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names = Object.values(RUN_FILES);
  const stale = readdirSync(dir)
    .filter((entry) => names.some((name) => isTempFileOf(entry, name)))
    .sort();
  for (const entry of stale) rmSync(join(dir, entry), { force: true });
  return stale;
}

/**
 * The files that say how far a previous run got (its checkpoint, final
 * weights, evaluation): a new run in the folder removes them when it
 * starts, so that none of them is taken for the new run's. Returns the
 * names removed.
 */
export function clearRunState(dir: string): string[] {
  const state = [RUN_FILES.lastCheckpoint, RUN_FILES.finalWeights, RUN_FILES.evaluation, RUN_FILES.valPredictions];
  const removed = state.filter((name) => existsSync(join(dir, name)));
  for (const name of removed) rmSync(join(dir, name), { force: true });
  return removed;
}

/** One line of `metrics.jsonl`: a training step (`total_loss`, `lr`, loss terms …) or an evaluation (`type: 'eval'`). */
export interface MetricsRecord {
  iter: number;
  type?: 'eval';
  [key: string]: number | string | undefined;
}

/**
 * Parse `metrics.jsonl`. A last line without its newline is the tail of a
 * write cut short (a kill mid-append) and is dropped; any other line that is
 * not a JSON object with a numeric `iter` is an error naming the line.
 */
export function parseMetrics(text: string, file: string): MetricsRecord[] {
  // Every record ends with a newline, so the last piece is '' or a torn tail.
  const complete = text.split('\n').slice(0, -1);
  const out: MetricsRecord[] = [];
  complete.forEach((line, i) => {
    if (line === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new DensekitError(`line ${i + 1} is not valid JSON`, { file });
    }
    if (typeof rec !== 'object' || rec === null || typeof (rec as { iter?: unknown }).iter !== 'number') {
      throw new DensekitError(`line ${i + 1} is not a metrics record (an object with a numeric "iter")`, { file });
    }
    out.push(rec as MetricsRecord);
  });
  return out;
}

/** The metrics of a run folder ([] when it has none yet). */
export function readMetrics(dir: string): MetricsRecord[] {
  const file = runPaths(dir).metrics;
  if (!existsSync(file)) return [];
  return parseMetrics(readFileSync(file, 'utf8'), file);
}

/**
 * `eval.json`: a detector's 12 COCO numbers per IoU type, or a segmenter's
 * mIoU / mAcc / aAcc (fractions).
 */
export type EvalRecord = { bbox: number[]; segm?: number[] } | { mIoU: number; mAcc: number; aAcc: number };

export function writeEvalRecord(dir: string, rec: EvalRecord): void {
  writeFileAtomic(runPaths(dir).evaluation, `${JSON.stringify(rec, null, 2)}\n`);
}

/** The run's final evaluation, or undefined when it has none. */
export function readEvalRecord(dir: string): EvalRecord | undefined {
  const file = runPaths(dir).evaluation;
  if (!existsSync(file)) return undefined;
  let rec: unknown;
  try {
    rec = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new DensekitError('not valid JSON', { file });
  }
  const isNumbers = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'number');
  const r = rec as Record<string, unknown>;
  if (typeof rec === 'object' && rec !== null && isNumbers(r.bbox) && (r.segm === undefined || isNumbers(r.segm))) return rec as EvalRecord;
  if (typeof rec === 'object' && rec !== null && ['mIoU', 'mAcc', 'aAcc'].every((k) => typeof r[k] === 'number')) return rec as EvalRecord;
  throw new DensekitError('not an evaluation record ({bbox, segm} or {mIoU, mAcc, aAcc})', { file });
}
