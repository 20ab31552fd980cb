import { tf, type Tensor } from '../engine/tf.js';

/** Sum of |x - y| (smooth-L1 with beta 0, detectron2's default), or smooth-L1 with beta > 0. */
export function smoothL1Sum(pred: Tensor, target: Tensor, beta: number): Tensor {
  const d = tf.abs(tf.sub(pred, target));
  if (beta === 0) return tf.sum(d);
  // 0.5 d²/β where d < β, d - 0.5β elsewhere; written without comparison-op gradients.
  const small = tf.minimum(d, beta);
  return tf.sum(tf.add(tf.div(tf.mul(small, small), 2 * beta), tf.sub(d, small)));
}

/** Sum of binary cross-entropy with logits (numerically stable). */
export function bceWithLogitsSum(logits: Tensor, targets: Tensor): Tensor {
  // max(x, 0) - x*t + log(1 + exp(-|x|))
  return tf.sum(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
}

/** Mean softmax cross-entropy over rows of logits [N, K] for integer labels. */
export function softmaxCrossEntropyMean(logits: Tensor, labels: Int32Array): Tensor {
  const k = logits.shape[1]!;
  const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), k);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)));
}
