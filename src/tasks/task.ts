import type { RunConfig } from '../config/schema.js';
import type { TaskEvaluation } from '../train/task.js';
import type { TrainOptions, TrainResult } from '../train/trainer.js';
import type { InferenceEngine } from './engine.js';

/** What a model does: detection (boxes, instance masks) or semantic segmentation (a class per pixel). */
export type TaskKind = 'detection' | 'semantic';

/** An image that could not be processed, and why. */
export interface SkippedImage {
  file: string;
  reason: string;
}

export interface PredictFilesOptions {
  /** What runs the dense stages (default: tfjs). */
  engine?: InferenceEngine;
  /** Detection: a COCO file whose image ids and category ids the results take. */
  gt?: string;
  /** Detection: drop detections scoring below this. */
  scoreThreshold?: number;
  /** Told after each image: how many are done, of how many. */
  onImage?: (done: number, total: number) => void;
}

export interface EvaluateOptions {
  /** What runs the dense stages (default: tfjs). */
  engine?: InferenceEngine;
  /** Told after each image: how many are done, of how many. */
  onImage?: (done: number, total: number) => void;
}

export interface PredictSummary {
  /** One line saying what was written where. */
  summary: string;
  /** Images that could not be read (the others were processed). */
  skipped: SkippedImage[];
}

/**
 * One task, bound to its config: the same three verbs for every kind of
 * model, so the CLI, the staged recipe and library users branch on the
 * architecture once (`taskFor`).
 */
export interface Task {
  readonly kind: TaskKind;
  readonly config: RunConfig;
  /** Whether the ONNX engine can run this task's dense stages. */
  readonly onnx: boolean;
  /** Train (or resume) into `opts.outDir`. */
  train(opts: TrainOptions): Promise<TrainResult>;
  /** Run trained weights over a data split of the config and score them. */
  evaluate(weights: string, split: 'train' | 'val', opts?: EvaluateOptions): Promise<TaskEvaluation>;
  /**
   * Run trained weights over image files and write what the task predicts:
   * a COCO results JSON (detection) or a folder of label PNGs (semantic).
   */
  predict(weights: string, files: string[], out: string, opts?: PredictFilesOptions): Promise<PredictSummary>;
  /** Write the model's dense graphs (ONNX), a manifest and a Python snippet into `outDir`; `size` is the padded input side. */
  exportOnnx(weights: string, outDir: string, size?: number): Promise<{ files: string[] }>;
}
