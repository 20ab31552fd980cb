import { tf, type Tensor } from '../engine/tf.js';
import { releasingGradients } from '../engine/release-gradients.js';
import type { ParamSpec } from './param-groups.js';

export interface StepResult {
  /** Each loss term's value. */
  losses: Record<string, number>;
  total: number;
  /** Gradients by parameter name (caller disposes). */
  grads: Map<string, Tensor>;
}

/**
 * Evaluate named losses and their gradients with respect to every trainable
 * parameter. Parameters that do not influence the loss get no entry.
 */
export function lossAndGradients(lossFn: () => Map<string, Tensor>, params: ParamSpec[]): StepResult {
  const losses: Record<string, number> = {};
  const vars = params.map((p) => p.variable);
  const byVarName = new Map(params.map((p) => [p.variable.name, p.name]));
  // Intermediate gradients are freed as the backward pass goes (see releasingGradients).
  const { value, grads } = releasingGradients(() =>
    tf.variableGrads(() => {
      const terms = lossFn();
      for (const [k, v] of terms) losses[k] = v.dataSync()[0]!;
      return tf.addN([...terms.values()]) as tf.Scalar;
    }, vars),
  );
  const total = value.dataSync()[0]!;
  value.dispose();
  const out = new Map<string, Tensor>();
  for (const [vn, g] of Object.entries(grads)) out.set(byVarName.get(vn)!, g);
  return { losses, total, grads: out };
}
