import { tf, type Tensor } from '../engine/tf.js';
import type { ParamSpec } from './param-groups.js';

export interface AdamWOptions {
  betas: [number, number];
  eps: number;
}

/**
 * AdamW exactly as torch.optim.AdamW: decoupled weight decay
 * p ← p·(1 − lr·wd), then the bias-corrected Adam step
 * p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε).
 * Per-parameter lr multipliers and weight decays come from `ParamSpec`s.
 * The moments are named after their parameter so they can be checkpointed.
 */
export class AdamW {
  step = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly params: ParamSpec[],
    readonly opts: AdamWOptions,
  ) {
    for (const p of params) {
      this.m.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      this.v.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
    }
  }

  /** Apply one update with base learning rate `lr`; `grads` by parameter name (missing = no gradient). */
  apply(grads: Map<string, Tensor>, lr: number): void {
    this.step++;
    const [b1, b2] = this.opts.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    // One scope per parameter: one scope around the loop held every
    // parameter's temporaries (a dozen each, so about 11x the model's size
    // when measured) until the end.
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) continue;
      tf.tidy(() => {
        const plr = lr * p.lrScale;
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        if (p.weightDecay !== 0) p.variable.assign(tf.mul(p.variable, 1 - plr * p.weightDecay));
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.opts.eps);
        p.variable.assign(tf.sub(p.variable, tf.mul(tf.div(m, denom), plr / bc1)));
      });
    }
  }

  /** Moments as a name → tensor map for checkpoints (`m.<param>`, `v.<param>`). */
  state(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [k, t] of this.m) out.set(`m.${k}`, t);
    for (const [k, t] of this.v) out.set(`v.${k}`, t);
    return out;
  }

  loadState(state: Map<string, Tensor>, step: number): void {
    for (const [k, t] of this.m) {
      const s = state.get(`m.${k}`);
      if (s) t.assign(s);
    }
    for (const [k, t] of this.v) {
      const s = state.get(`v.${k}`);
      if (s) t.assign(s);
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/** Scale gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGradNorm(grads: Map<string, Tensor>, maxNorm: number): number {
  const norm = Math.sqrt(tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]!));
  if (norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const [k, g] of grads) {
      grads.set(k, tf.mul(g, s));
      g.dispose();
    }
  }
  return norm;
}
