import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DensekitError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

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
 */
export const RUN_FILES = {
  config: 'config.yaml',
  metrics: 'metrics.jsonl',
  lastCheckpoint: 'last.safetensors',
  finalWeights: 'model_final.safetensors',
  evaluation: 'eval.json',
  valPredictions: 'predictions_val.json',
  report: 'report',
} as const;

export type RunFile = keyof typeof RUN_FILES;

/** Paths of a run folder's files. */
export function runPaths(dir: string): { readonly [K in RunFile]: string } {
  return Object.fromEntries(Object.entries(RUN_FILES).map(([k, name]) => [k, join(dir, name)])) as { [K in RunFile]: string };
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
