import type { RunConfig } from '../config/schema.js';
import type { CheckpointMeta } from '../io/checkpoint.js';
import { openSafetensors } from '../io/safetensors.js';
import { DensekitError } from '../util/errors.js';
import { classifyChanges, describeChanges } from './config-change.js';

/** A training checkpoint's metadata, from its header alone (no tensor is read). */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const reader = openSafetensors(path);
  let text: string | undefined;
  try {
    text = reader.metadata.densekit;
  } finally {
    reader.close();
  }
  if (text === undefined) throw new DensekitError('not a training checkpoint (no densekit metadata); cannot resume', { file: path });
  try {
    return JSON.parse(text) as CheckpointMeta;
  } catch {
    throw new DensekitError('checkpoint metadata is not valid JSON', { file: path, key: '__metadata__.densekit' });
  }
}

/** The config a checkpoint was trained with. */
function storedConfig(path: string, meta: CheckpointMeta): unknown {
  try {
    return JSON.parse(meta.config) as unknown;
  } catch {
    throw new DensekitError('the config stored in the checkpoint is not valid JSON', { file: path, key: '__metadata__.densekit.config' });
  }
}

/**
 * Compare the config a checkpoint was trained with to the config a resume
 * brings, before anything is loaded: a change that alters the training
 * (see config-change.ts) is refused, naming each changed key with its old
 * and new values, unless `allowChange` (the CLI's --allow-config-change);
 * then, and for changes that do not alter it, each is noted through `log`.
 */
export function checkResumeConfig(checkpoint: string, cfg: RunConfig, opts: { allowChange?: boolean; log: (line: string) => void }): CheckpointMeta {
  const meta = readCheckpointMeta(checkpoint);
  const before = storedConfig(checkpoint, meta);
  const { altering, neutral } = classifyChanges(before, cfg);
  if (altering.length > 0 && !opts.allowChange) {
    throw new DensekitError(
      `the config differs from the one this run was trained with, in keys that change the training: ${describeChanges(altering)}; resume with --allow-config-change to accept the change, or train into another folder`,
      { file: checkpoint },
    );
  }
  if (altering.length > 0) opts.log(`resuming with a changed config (--allow-config-change): ${describeChanges(altering)}`);
  if (neutral.length > 0) opts.log(`resuming with changed settings that do not alter the training: ${describeChanges(neutral)}`);
  return meta;
}
