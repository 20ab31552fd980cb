import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../random.js';
import type { Module } from '../module.js';
import { withGradient } from './custom-grad.js';

/** The part of tfjs' engine state that nested gradient calls overwrite. */
interface EngineTapeState {
  state: { activeTape: unknown };
}

/**
 * Activation checkpointing: y = fn(x) as one op that keeps only x. The
 * backward pass runs fn again under its own gradient tape and returns the
 * gradients for x and for `params` (the variables fn reads). tfjs keeps
 * every intermediate of a forward pass until the whole backward pass ends,
 * so without this a base-size encoder at 1024² needs far more than wasm's
 * 4 GB heap; with it, one block's intermediates at a time. The cost is
 * one more forward of fn.
 *
 * Random draws inside fn (drop path) must repeat in the recomputation:
 * `rngs` are rewound to their state before the forward, then put back.
 * A row-wise fn may give `rowsPerStep` to recompute it slice by slice.
 */
export function checkpoint(x: Tensor, params: tf.Variable[], fn: (x: Tensor) => Tensor, rngs: Rng[] = [], rowsPerStep = 0): Tensor {
  const before = rngs.map((r) => r.getState());
  return withGradient([x, ...params], ([xi], save) => {
    save([xi!]);
    return {
      value: fn(xi!),
      gradFunc: (dy, [xs]) => {
        const after = rngs.map((r) => r.getState());
        rngs.forEach((r, i) => r.setState(before[i]!));
        try {
          return rowsPerStep > 0 && rowsPerStep < xs!.shape[1]! ? rowwiseVjp(fn, xs!, params, dy, rowsPerStep) : vjp(() => fn(xs!), [xs!, ...params], dy);
        } finally {
          rngs.forEach((r, i) => r.setState(after[i]!));
        }
      },
    };
  });
}

/**
 * The backward pass of a row-wise fn (each slice along axis 1 maps to the
 * same slice of the output, as a per-token FFN does) one slice at a time:
 * only one slice's intermediates exist at once. Input gradients are
 * concatenated, parameter gradients summed.
 */
function rowwiseVjp(fn: (x: Tensor) => Tensor, x: Tensor, params: tf.Variable[], dy: Tensor, rowsPerStep: number): Tensor[] {
  const rows = x.shape[1]!;
  const dxParts: Tensor[] = [];
  let dParams: Tensor[] | undefined;
  for (let r0 = 0; r0 < rows; r0 += rowsPerStep) {
    const n = Math.min(rowsPerStep, rows - r0);
    const begin = x.shape.map((_, i) => (i === 1 ? r0 : 0));
    const xSize = x.shape.map((d, i) => (i === 1 ? n : d));
    const dySize = dy.shape.map((d, i) => (i === 1 ? n : d));
    const xs = tf.slice(x, begin, xSize);
    const dys = tf.slice(dy, begin, dySize);
    const [dx, ...dp] = vjp(() => fn(xs), [xs, ...params], dys);
    xs.dispose();
    dys.dispose();
    dxParts.push(dx!);
    if (dParams === undefined) dParams = dp;
    else {
      const sums = dParams.map((g, i) => tf.add(g, dp[i]!));
      tf.dispose([...dParams, ...dp]);
      dParams = sums;
    }
  }
  const dx = tf.concat(dxParts, 1);
  tf.dispose(dxParts);
  return [dx, ...dParams!];
}

/**
 * Vector-Jacobian product: the gradients of `fn()` with respect to `wrt`
 * (tensors or variables it reads), given the upstream gradient `dy` —
 * zeros for those it does not reach. Safe to call inside a backward pass:
 * tfjs 4 resets the engine's tape when a gradient computation starts outside
 * another one, which is the case there, so the outer tape is put back (or
 * the outer pass could not release its tensors).
 */
export function vjp(fn: () => Tensor, wrt: Tensor[], dy: Tensor): Tensor[] {
  const engine = tf.engine() as unknown as EngineTapeState;
  const outerTape = engine.state.activeTape;
  try {
    const { value, grads } = tf.engine().gradients(fn, wrt, dy, true);
    value.dispose();
    return grads.map((g, i) => g ?? tf.zerosLike(wrt[i]!));
  } finally {
    engine.state.activeTape = outerTape;
  }
}

/**
 * `fn(x)` checkpointed when `enabled` and training (the only time a backward
 * pass follows), with the trainable parameters of `modules` as the ones
 * `fn` reads; otherwise plain `fn(x)`.
 */
export function maybeCheckpoint(enabled: boolean, modules: Module | Module[], x: Tensor, fn: (x: Tensor) => Tensor, rngs: Rng[] = [], rowsPerStep = 0): Tensor {
  const list = Array.isArray(modules) ? modules : [modules];
  if (!enabled || !list.some((m) => m.training)) return fn(x);
  const params = list.flatMap((m) => m.namedParameters().map(([, v]) => v)).filter((v) => v.trainable);
  return checkpoint(x, params, fn, rngs, rowsPerStep);
}
