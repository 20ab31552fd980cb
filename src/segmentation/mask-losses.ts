import { tf, type Tensor } from '../engine/tf.js';

/**
 * Mask2Former's mask costs and losses over point samples (or all pixels):
 * predictions and targets are [N, P] logits / {0,1} values at P points.
 */

/** Pairwise mean BCE-with-logits between every prediction and every target: [Q, G]. */
export function pairwiseSigmoidCe(pred: Tensor, target: Tensor): Tensor {
  return tf.tidy(() => {
    const p = pred.shape[1]!;
    // BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x)
    const pos = tf.softplus(tf.neg(pred));
    const neg = tf.softplus(pred);
    return tf.div(tf.add(tf.matMul(pos, target, false, true), tf.matMul(neg, tf.sub(1, target), false, true)), p);
  });
}

/** Pairwise dice cost 1 - (2·Σ σ(x)·t + 1) / (Σ σ(x) + Σ t + 1): [Q, G]. */
export function pairwiseDice(pred: Tensor, target: Tensor): Tensor {
  return tf.tidy(() => {
    const s = tf.sigmoid(pred);
    const num = tf.add(tf.mul(tf.matMul(s, target, false, true), 2), 1);
    const den = tf.add(tf.add(tf.sum(s, 1, true), tf.sum(target, 1).reshape([1, -1])), 1);
    return tf.sub(1, tf.div(num, den));
  });
}

/** Σ over pairs of the mean BCE over points, ÷ numMasks (pred, target: [M, P], paired by row). */
export function sigmoidCeLoss(pred: Tensor, target: Tensor, numMasks: number): Tensor {
  const bce = tf.add(tf.sub(tf.relu(pred), tf.mul(pred, target)), tf.log1p(tf.exp(tf.neg(tf.abs(pred)))));
  return tf.div(tf.sum(tf.mean(bce, 1)), numMasks);
}

/** Σ over pairs of the dice loss, ÷ numMasks. */
export function diceLoss(pred: Tensor, target: Tensor, numMasks: number): Tensor {
  const s = tf.sigmoid(pred);
  const num = tf.add(tf.mul(tf.sum(tf.mul(s, target), 1), 2), 1);
  const den = tf.add(tf.add(tf.sum(s, 1), tf.sum(target, 1)), 1);
  return tf.div(tf.sum(tf.sub(1, tf.div(num, den))), numMasks);
}

/**
 * Class loss: cross-entropy over K+1 classes with the no-object class
 * weighted (`eosCoef`), as a weighted mean (PyTorch's weighted CE):
 * Σ w[y]·nll / Σ w[y]. logits [N, K+1], labels [N] (K = no object).
 */
export function weightedCrossEntropy(logits: Tensor, labels: Int32Array, eosCoef: number): Tensor {
  const k1 = logits.shape[1]!;
  const w = new Float32Array(labels.length);
  labels.forEach((y, i) => (w[i] = y === k1 - 1 ? eosCoef : 1));
  const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), k1);
  const nll = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1));
  const wt = tf.tensor1d(w);
  return tf.div(tf.sum(tf.mul(nll, wt)), tf.sum(wt));
}
