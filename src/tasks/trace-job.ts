import type { DetectorRunConfig, SegmenterRunConfig } from '../config/schema.js';

/**
 * One graph to trace, described by value so that another thread can build
 * the model and trace it: the run config, the weights file, and the graph
 * with its input shapes.
 */
export type TraceJob =
  | { task: 'detection'; config: DetectorRunConfig; weights: string; graph: DetectorGraphSpec }
  | { task: 'semantic'; config: SegmenterRunConfig; weights: string; graph: { kind: 'segmenter_scores'; shape: number[] } };

export type DetectorGraphSpec =
  | { kind: 'detector_dense'; shape: number[] }
  | { kind: 'box_head'; stage: number; levelShapes: number[][] }
  | { kind: 'mask_head'; levelShapes: number[][] };

/** Where a model's graphs are traced from: its config and weights file (for tracing in a worker thread). */
export interface TraceSource<C> {
  config: C;
  weights: string;
}
