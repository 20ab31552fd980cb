import type { tf } from '../engine/tf.js';
import type { OptimizerConfig } from '../config/schema.js';

/** One optimised tensor with its own lr multiplier and weight decay. */
export interface ParamSpec {
  name: string;
  variable: tf.Variable;
  /** Multiplier of the scheduled lr (layer-wise decay). */
  lrScale: number;
  weightDecay: number;
  /** Layer id used for the lr decay (reported for inspection). */
  layerId: number;
}

export interface LayeredModel {
  namedParameters(): [string, tf.Variable][];
  /** Layer id of a parameter: 0 for embeddings, block i → i+1, heads depth+1. */
  layerId(name: string): number;
  readonly depth: number;
  /** Parameters the optimizer must leave alone (e.g. a frozen patch embedding). */
  isFrozen?(name: string): boolean;
}

/**
 * Parameter groups as ViTDet's optimizer builds them: lr multiplier
 * decay^(depth + 1 - layerId) (so heads get 1 and the patch embedding the
 * smallest), and no weight decay for 1-D tensors (norms, biases) and for
 * names containing one of `no_decay_keys`. Frozen parameters get no spec:
 * they are neither differentiated nor updated.
 */
export function buildParamSpecs(model: LayeredModel, cfg: OptimizerConfig): ParamSpec[] {
  const depth = model.depth;
  const trained = model.namedParameters().filter(([name]) => !model.isFrozen?.(name));
  return trained.map(([name, variable]) => {
    const layerId = model.layerId(name);
    const noDecay = (cfg.no_decay_1d && variable.shape.length <= 1) || cfg.no_decay_keys.some((k) => name.includes(k));
    return { name, variable, layerId, lrScale: cfg.layer_decay ** (depth + 1 - layerId), weightDecay: noDecay ? 0 : cfg.weight_decay };
  });
}
