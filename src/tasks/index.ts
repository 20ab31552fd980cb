import { isDetectorConfig, isSegmenterConfig, type RunConfig } from '../config/schema.js';
import { DensekitError } from '../util/errors.js';
import { detectionTask } from './detection/index.js';
import { semanticTask } from './semantic/index.js';
import type { Task } from './task.js';

/** The task a config's model performs: the one place that branches on `model.arch`. */
export function taskFor(config: RunConfig): Task {
  if (isDetectorConfig(config)) return detectionTask(config);
  if (isSegmenterConfig(config)) return semanticTask(config);
  throw new DensekitError(`unknown model.arch ${(config.model as { arch: string }).arch}`, { key: 'model.arch' });
}
