import { existsSync } from 'node:fs';
import { tf } from '../engine/tf.js';
import { fromTf, toTf, type HostDType, type HostTensor } from './host-tensor.js';
import { readSafetensors, writeSafetensors, type DeferredTensor } from './safetensors.js';
import { DensekitError } from '../util/errors.js';
import type { Module } from '../engine/module.js';

/** What a checkpoint needs of an optimizer: its state tensors by name. */
export interface OptimizerState {
  state(): Map<string, tf.Tensor>;
}

/** What a training checkpoint records besides tensors. */
export interface CheckpointMeta {
  format: 'densekit-checkpoint-1';
  iteration: number;
  optimizerStep: number;
  stage?: string;
  /** Batches the data loader has handed out. */
  loaderPosition: number;
  rngStates: number[][];
  /** The effective config, as JSON. */
  config: string;
}

/**
 * Save model (`model.*`), optimizer moments (`optim.*`) and metadata as one
 * safetensors file, atomically (temp file, fsync, rename): a crash during
 * the write leaves the previous checkpoint intact.
 */
export function saveCheckpoint(path: string, model: Module, optimizer: OptimizerState | undefined, meta: CheckpointMeta): void {
  // Each tensor is read back from the backend only when the writer reaches
  // it: the host holds one tensor at a time, not the whole checkpoint
  // (weights and two moments: gigabytes for large models).
  const deferred = (v: tf.Tensor): DeferredTensor => ({ dtype: hostDType(v), shape: [...v.shape], data: () => fromTf(v).data });
  const tensors = new Map<string, DeferredTensor>();
  for (const [k, v] of model.stateDict()) tensors.set(`model.${k}`, deferred(v));
  if (optimizer) for (const [k, v] of optimizer.state()) tensors.set(`optim.${k}`, deferred(v));
  writeSafetensors(path, tensors, { densekit: JSON.stringify(meta) });
}

function hostDType(v: tf.Tensor): HostDType {
  if (v.dtype === 'float32' || v.dtype === 'int32' || v.dtype === 'bool') return v.dtype;
  throw new Error(`cannot store a ${v.dtype} tensor`);
}

export interface LoadedCheckpoint {
  meta?: CheckpointMeta;
  model: Map<string, HostTensor>;
  optim: Map<string, HostTensor>;
}

/**
 * Read a checkpoint (or a plain weights file whose keys have no `model.`
 * prefix) tensor by tensor. With `optimizer: false` the optimizer moments —
 * two thirds of a training checkpoint — are not read at all.
 */
export function readCheckpoint(path: string, opts: { optimizer?: boolean } = {}): LoadedCheckpoint {
  if (!existsSync(path)) throw new DensekitError('checkpoint not found', { file: path });
  const f = readSafetensors(path, opts.optimizer === false ? { filter: (name) => !name.startsWith('optim.') } : {});
  const model = new Map<string, HostTensor>();
  const optim = new Map<string, HostTensor>();
  let prefixed = false;
  for (const [k, t] of f.tensors) {
    if (k.startsWith('model.')) {
      model.set(k.slice(6), t);
      prefixed = true;
    } else if (k.startsWith('optim.')) optim.set(k.slice(6), t);
  }
  if (!prefixed) for (const [k, t] of f.tensors) model.set(k, t);
  let meta: CheckpointMeta | undefined;
  if (f.metadata.densekit) {
    try {
      meta = JSON.parse(f.metadata.densekit) as CheckpointMeta;
    } catch {
      throw new DensekitError('checkpoint metadata is not valid JSON', { file: path, key: '__metadata__.densekit' });
    }
  }
  return { meta, model, optim };
}

/** Host tensors → tfjs tensors (caller disposes). */
export function toTensors(m: Map<string, HostTensor>): Map<string, tf.Tensor> {
  return new Map([...m].map(([k, t]) => [k, toTf(t, k)]));
}
