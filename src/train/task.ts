import type { Tensor } from '../engine/tf.js';
import type { Module } from '../engine/module.js';
import type { LayeredModel } from './param-groups.js';
import type { EvalRecord } from './run-folder.js';

/** A model the generic training loop can drive. */
export type TrainableModel = Module & LayeredModel & { rngStates(): number[][]; setRngStates(s: number[][]): void; pretrainedSummary?: string };

/** One batch's losses (called inside the gradient tape). */
export interface TrainBatchHandle {
  losses(): Map<string, Tensor>;
  dispose(): void;
}

/** Evaluation results of a task: numbers for the log, what the run folder keeps, a printable summary. */
export interface TaskEvaluation {
  /** Flat numbers for the metrics log and the CLI (e.g. bbox_AP, mIoU). */
  scalars: Record<string, number>;
  /** The run folder's `eval.json`. */
  record: EvalRecord;
  /** Other files to write into the run folder (name → content), e.g. the validation predictions. */
  files: Record<string, string>;
  /** The printable summary (pycocotools' table, mmseg's per-class table). */
  summary: string;
  /** Everything measured, as JSON (what `eval model --json` writes). */
  report: unknown;
}

/**
 * What the training loop needs from a task (detection, semantic
 * segmentation): a model, an endless deterministic batch stream, and an
 * evaluation on the validation split.
 */
export interface TrainTask {
  model: TrainableModel;
  /** A stream positioned at batch `start` (deterministic given the seed). */
  batches(start: number): { next(): Promise<TrainBatchHandle>; position: number };
  evaluate?: () => Promise<TaskEvaluation>;
}
