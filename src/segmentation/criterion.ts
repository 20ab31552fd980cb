import { tf, type Tensor } from '../engine/tf.js';
import type { Rng } from '../engine/random.js';
import { withoutGradient } from '../engine/ops/custom-grad.js';
import { gatherRows } from '../engine/ops/gather.js';
import { linearSumAssignment } from './hungarian.js';
import { bilinearSample } from '../engine/ops/bilinear-sample.js';
import { pairwiseDice, pairwiseSigmoidCe, sigmoidCeLoss, diceLoss, weightedCrossEntropy } from './mask-losses.js';
import type { Prediction } from './masked-decoder.js';

/** Ground truth of one image: one binary mask per present class. */
export interface SemanticTarget {
  labels: Int32Array;
  /** [G, H, W] float {0, 1}, at the (padded) input resolution. */
  masks: Tensor;
}

export interface CriterionOptions {
  numClasses: number;
  classWeight: number;
  maskWeight: number;
  diceWeight: number;
  /** Weight of the no-object class in the classification loss. */
  eosCoef: number;
  numPoints: number;
  oversampleRatio: number;
  importanceSampleRatio: number;
}

/**
 * Values of masks [N, H, W] at points (x, y) ∈ [0, 1]² given per mask
 * ([N, P, 2] flat) — point_sample: grid_sample(align_corners=False) with
 * zero padding. Differentiable with respect to the masks. Returns [N, P].
 */
export function pointSample(masks: Tensor, points: Float32Array, perMask: boolean): Tensor {
  const [n, h, w] = masks.shape as [number, number, number];
  const p = perMask ? points.length / 2 / n : points.length / 2;
  const px = new Float32Array(n * p);
  const py = new Float32Array(n * p);
  const base = new Float32Array(n * p);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < p; k++) {
      const src = perMask ? (i * p + k) * 2 : k * 2;
      px[i * p + k] = points[src]! * w - 0.5;
      py[i * p + k] = points[src + 1]! * h - 0.5;
      base[i * p + k] = i * h * w;
    }
  return bilinearSample(masks.reshape([n * h * w, 1]), tf.tensor2d(px, [n, p]), tf.tensor2d(py, [n, p]), h, w, tf.tensor2d(base, [n, p])).reshape([n, p]);
}

function uniformPoints(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * 2);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform();
  return out;
}

/**
 * Mask2Former's criterion: per prediction set and image, Hungarian
 * matching on class (−p), point-sampled mask BCE and dice costs (shared
 * random points); then CE over all queries (no-object weighted), and for
 * the matched pairs BCE + dice at importance-sampled points (the most
 * uncertain of 3P random points, plus fresh random ones). Deep
 * supervision: the same losses on every intermediate prediction, keys
 * suffixed `_i`.
 */
export class SetCriterion {
  constructor(
    readonly opts: CriterionOptions,
    private readonly rng: Rng,
  ) {}

  /** (query, target) pairs per image for one prediction set. */
  match(pred: Prediction, targets: SemanticTarget[]): { q: number[]; g: number[] }[] {
    const { numPoints } = this.opts;
    const b = pred.logits.shape[0]!;
    const [, Q, H, W] = pred.masks.shape as [number, number, number, number];
    return Array.from({ length: b }, (_, i) => {
      const t = targets[i]!;
      const G = t.labels.length;
      if (G === 0) return { q: [], g: [] };
      const cost = tf.tidy(() => {
        const logits = pred.logits.slice([i, 0, 0], [1, Q, -1]).reshape([Q, -1]);
        const prob = tf.softmax(logits);
        const costClass = tf.neg(tf.gather(prob, tf.tensor1d(t.labels, 'int32'), 1));
        const pts = uniformPoints(numPoints, this.rng);
        const pm = pointSample(pred.masks.slice([i, 0, 0, 0], [1, Q, H, W]).reshape([Q, H, W]), pts, false);
        const gm = pointSample(t.masks, pts, false);
        const total = tf.addN([tf.mul(pairwiseSigmoidCe(pm, gm), this.opts.maskWeight), tf.mul(costClass, this.opts.classWeight), tf.mul(pairwiseDice(pm, gm), this.opts.diceWeight)]);
        return total.dataSync() as Float32Array;
      });
      const r = linearSumAssignment(cost, Q, G);
      return { q: r.rows, g: r.cols };
    });
  }

  /** Importance-sampled points for each matched mask: [M, P, 2] flat. */
  private importancePoints(maskLogits: Tensor): Float32Array {
    const { numPoints: P, oversampleRatio, importanceSampleRatio } = this.opts;
    const m = maskLogits.shape[0]!;
    const cand = Math.floor(P * oversampleRatio);
    const nImportant = Math.floor(importanceSampleRatio * P);
    const nRandom = P - nImportant;
    const pts = uniformPoints(m * cand, this.rng);
    const vals = tf.tidy(() => pointSample(maskLogits, pts, true).dataSync() as Float32Array);
    const out = new Float32Array(m * P * 2);
    for (let i = 0; i < m; i++) {
      const idx = Array.from({ length: cand }, (_, k) => k);
      // Uncertainty −|logit|: the points closest to the decision boundary first.
      idx.sort((a, b) => Math.abs(vals[i * cand + a]!) - Math.abs(vals[i * cand + b]!) || a - b);
      for (let k = 0; k < nImportant; k++) {
        out[(i * P + k) * 2] = pts[(i * cand + idx[k]!) * 2]!;
        out[(i * P + k) * 2 + 1] = pts[(i * cand + idx[k]!) * 2 + 1]!;
      }
      for (let k = 0; k < nRandom; k++) {
        out[(i * P + nImportant + k) * 2] = this.rng.uniform();
        out[(i * P + nImportant + k) * 2 + 1] = this.rng.uniform();
      }
    }
    return out;
  }

  /** Weighted losses of one prediction set. */
  private setLosses(pred: Prediction, targets: SemanticTarget[], numMasks: number): { ce: Tensor; mask: Tensor; dice: Tensor } {
    const K = this.opts.numClasses;
    const [b, Q, H, W] = pred.masks.shape as [number, number, number, number];
    const matches = this.match(pred, targets);
    const labels = new Int32Array(b * Q).fill(K);
    const predRows: number[] = [];
    const gtMasks: Tensor[] = [];
    matches.forEach((m, i) => {
      m.q.forEach((q, k) => {
        labels[i * Q + q] = targets[i]!.labels[m.g[k]!]!;
        predRows.push(i * Q + q);
      });
      if (m.g.length) gtMasks.push(tf.gather(targets[i]!.masks, tf.tensor1d(m.g, 'int32')));
    });
    const ce = weightedCrossEntropy(pred.logits.reshape([b * Q, K + 1]), labels, this.opts.eosCoef);
    if (predRows.length === 0) {
      const zero = tf.mul(tf.sum(pred.masks), 0);
      return { ce: tf.mul(ce, this.opts.classWeight), mask: zero, dice: zero };
    }
    const predMasks = gatherRows(pred.masks.reshape([b * Q, H * W]), Int32Array.from(predRows)).reshape([predRows.length, H, W]);
    const pts = this.importancePoints(withoutGradient([predMasks], ([x]) => tf.clone(x!)));
    const pm = pointSample(predMasks, pts, true);
    const gt = tf.concat(gtMasks, 0);
    const gm = withoutGradient([gt], ([x]) => pointSample(x!, pts, true));
    return {
      ce: tf.mul(ce, this.opts.classWeight),
      mask: tf.mul(sigmoidCeLoss(pm, gm, numMasks), this.opts.maskWeight),
      dice: tf.mul(diceLoss(pm, gm, numMasks), this.opts.diceWeight),
    };
  }

  /** All losses: the final prediction's as loss_ce / loss_mask / loss_dice, the others suffixed _0, _1, …. */
  losses(preds: Prediction[], targets: SemanticTarget[]): Map<string, Tensor> {
    const numMasks = Math.max(1, targets.reduce((s, t) => s + t.labels.length, 0));
    const out = new Map<string, Tensor>();
    preds.forEach((p, i) => {
      const suffix = i === preds.length - 1 ? '' : `_${i}`;
      const l = this.setLosses(p, targets, numMasks);
      out.set(`loss_ce${suffix}`, l.ce);
      out.set(`loss_mask${suffix}`, l.mask);
      out.set(`loss_dice${suffix}`, l.dice);
    });
    return out;
  }
}

/**
 * Per-pixel class scores: Σ_q softmax(class_q)[c] (no-object dropped) ·
 * sigmoid(mask_q) — logits [Q, K+1], masks [Q, H, W] → [H, W, K].
 */
export function semanticInference(logits: Tensor, masks: Tensor): Tensor {
  return tf.tidy(() => {
    const [q, k1] = logits.shape as [number, number];
    const [, h, w] = masks.shape as [number, number, number];
    const probs = tf.softmax(logits).slice([0, 0], [q, k1 - 1]); // [Q, K]
    const m = tf.sigmoid(masks).reshape([q, h * w]);
    return tf.matMul(m, probs, true, false).reshape([h, w, k1 - 1]);
  });
}
