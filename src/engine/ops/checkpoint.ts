import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../random.js';
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
 */
export function checkpoint(x: Tensor, params: tf.Variable[], fn: (x: Tensor) => Tensor, rngs: Rng[] = []): Tensor {
  const before = rngs.map((r) => r.getState());
  return withGradient([x, ...params], ([xi], save) => {
    save([xi!]);
    return {
      value: fn(xi!),
      gradFunc: (dy, [xs]) => {
        // tfjs 4 resets the engine's tape when a gradient computation starts
        // outside another one, which is the case inside a backward pass;
        // put the outer tape back so the outer pass can release its tensors.
        const engine = tf.engine() as unknown as EngineTapeState;
        const outerTape = engine.state.activeTape;
        const after = rngs.map((r) => r.getState());
        rngs.forEach((r, i) => r.setState(before[i]!));
        try {
          const { value, grads } = tf.engine().gradients(() => fn(xs!), [xs!, ...params], dy, true);
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? xs! : params[i - 1]!));
        } finally {
          engine.state.activeTape = outerTape;
          rngs.forEach((r, i) => r.setState(after[i]!));
        }
      },
    };
  });
}
