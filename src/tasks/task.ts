import type { RunConfig } from '../config/schema.js';
import type { TaskEvaluation } from '../train/task.js';
import type { TrainOptions, TrainResult } from '../train/trainer.js';
import type { InferenceEngine } from './engine.js';
import type { ShardSpec } from './shards.js';

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
  /** Told once before the first image: how many this run found done already (resumed), of how many. */
  onStart?: (done: number, total: number) => void;
  /**
   * Run only this shard of the sorted image list (image k goes to shard
   * k mod N). A detector then writes `<out stem>.shard-I-of-N.jsonl`
   * (records with a header naming the run) instead of `out`; a segmenter
   * writes its label maps into `out` as always, and
   * `predictions.shard-I-of-N.jsonl` beside them.
   */
  shard?: ShardSpec;
  /** Continue the log an interrupted run left (images it holds are not predicted again). */
  resume?: boolean;
  /** Semantic: record each image's class areas against the annotation PNGs in this folder (for exact, mergeable mIoU). */
  gtDir?: string;
  /** The config file's name, for the header of the predictions file. */
  configFile?: string;
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
  /** The files written (results, predictions file). */
  files?: string[];
  /** Images found done in an earlier run's log (with `resume`), and images predicted now. */
  resumed?: number;
  ran?: number;
  /** Things the user should know (a torn log line dropped, a log replaced). */
  notes?: string[];
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
