import { isDetectorConfig, type DensekitConfig, type DetectorRunConfig } from '../config/schema.js';
import { DensekitError } from '../util/errors.js';

/** The config as a detector config, or a one-line error naming the file. */
export function requireDetector(config: DensekitConfig, file: string): DetectorRunConfig {
  const { stages: _s, ...run } = config;
  if (!isDetectorConfig(run)) throw new DensekitError(`this command needs a detection model (model.arch: rcnn), the config has ${run.model.arch}`, { file, key: 'model.arch' });
  return run;
}
