import type { Module } from '../engine/module.js';
import { readCheckpoint, toTensors } from './checkpoint.js';
import { DensekitError } from '../util/errors.js';

/**
 * Load trained weights (a densekit checkpoint or weights file) into a freshly
 * built model, strictly: every parameter must be present with its shape. On a
 * mismatch the model is disposed and the error names the file.
 */
export function loadTrainedWeights<M extends Module>(model: M, weightsPath: string): M {
  const ck = readCheckpoint(weightsPath, { optimizer: false });
  const state = toTensors(ck.model);
  try {
    model.loadStateDict(state);
  } catch (err) {
    model.dispose();
    throw new DensekitError(`weights do not fit the config's model: ${(err as Error).message.split('\n').slice(0, 4).join('; ')}`, { file: weightsPath });
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return model;
}
