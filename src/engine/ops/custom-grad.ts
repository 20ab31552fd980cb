import { tf, type Tensor } from '../tf.js';

/** tfjs' explicit padding: [[0,0],[top,bottom],[left,right],[0,0]] for NHWC. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** What a differentiable op's forward returns: its value and how to push gradients back. */
export interface ForwardResult {
  value: Tensor;
  /** Gradients with respect to each input, in order. */
  gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[];
}

/**
 * Run `forward` on `inputs` as one op whose gradient is `gradFunc` — a typed
 * wrapper over tf.customGrad. densekit uses it to give ops gradients that
 * work on every backend (or that tfjs lacks on all of them).
 */
export function withGradient(inputs: Tensor[], forward: (inputs: Tensor[], save: tf.GradSaveFunc) => ForwardResult): Tensor {
  const f = tf.customGrad(((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const { value, gradFunc } = forward(args.slice(0, -1) as Tensor[], save);
    return {
      value,
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
        const g = gradFunc(dy as Tensor, saved);
        return g.length === 1 ? g[0]! : g;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(...inputs);
}

/**
 * Compute `fn(inputs)` as one op through which no gradient flows (the
 * inputs receive zeros). Comparisons, casts and other ops without
 * gradients may be used inside: they never reach the gradient tape.
 */
export function withoutGradient(inputs: Tensor[], fn: (inputs: Tensor[]) => Tensor): Tensor {
  return withGradient(inputs, (xs) => ({ value: fn(xs), gradFunc: () => xs.map((x) => tf.zerosLike(x)) }));
}
