import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Conv2d } from '../engine/layers/conv2d.js';
import { gatherRows } from '../engine/ops/gather.js';
import * as init from '../engine/init.js';
import { maybeCheckpoint } from '../engine/ops/activation-checkpoint.js';
import type { Rng } from '../engine/random.js';
import type { RpnConfig } from '../config/schema.js';
import type { FeatureMaps, LevelShapes } from '../backbone/simple-feature-pyramid.js';
import { clipBoxes, concatBoxes, numBoxes, pairwiseIou, selectBoxes, type BoxArray } from '../structures/boxes.js';
import type { GtInstances } from '../structures/instances.js';
import { cellAnchors, gridAnchors } from './anchor-generator.js';
import { BoxCoder } from './box-coder.js';
import { matchPredictions } from './matcher.js';
import { sampleLabels } from './sampler.js';
import { batchedNms } from './nms.js';
import { bceWithLogitsSum, smoothL1Sum } from './losses.js';

/** Proposals of one image: boxes in the padded input frame and their objectness logits. */
export interface Proposals {
  boxes: BoxArray;
  logits: Float32Array;
}

/** The shared RPN head: 3x3 convs + ReLU, then objectness (A) and deltas (4A) 1x1 convs. */
export class RpnHead extends Module {
  readonly convs: ModuleList<Conv2d>;
  readonly objectness_logits: Conv2d;
  readonly anchor_deltas: Conv2d;
  constructor(
    channels: number,
    readonly numAnchors: number,
    numConvs: number,
    /** Recompute the head in the backward pass (`rpn.activation_checkpoint`). */
    readonly checkpoint = false,
  ) {
    super();
    const w = (s: number[]) => init.normal(s, 0.01);
    const z = (s: number[]) => init.zeros(s);
    this.convs = this.module('conv', new ModuleList(Array.from({ length: numConvs }, () => new Conv2d(channels, channels, 3, { padding: 1, initWeight: w, initBias: z }))));
    this.objectness_logits = this.module('objectness_logits', new Conv2d(channels, numAnchors, 1, { initWeight: w, initBias: z }));
    this.anchor_deltas = this.module('anchor_deltas', new Conv2d(channels, numAnchors * 4, 1, { initWeight: w, initBias: z }));
  }

  /** Per level: logits [B, H*W*A] and deltas [B, H*W*A, 4] (anchor order y, x, a). */
  forward(x: Tensor): { logits: Tensor; deltas: Tensor } {
    const a = this.numAnchors;
    // One output (logits and deltas side by side) so the head can be one checkpointed step.
    const both = maybeCheckpoint(this.checkpoint, this, x, (u) => {
      let t = u;
      for (const c of this.convs.items) t = tf.relu(c.forward(t));
      return tf.concat([this.objectness_logits.forward(t), this.anchor_deltas.forward(t)], 3);
    });
    const [b, h, w] = both.shape as [number, number, number, number];
    return {
      logits: tf.slice(both, [0, 0, 0, 0], [b, h, w, a]).reshape([b, -1]),
      deltas: tf.slice(both, [0, 0, 0, a], [b, h, w, 4 * a]).reshape([b, -1, 4]),
    };
  }
}

/**
 * detectron2's RPN: anchors over p2..p6, the shared head, training losses
 * (matched at 0.3/0.7 with low-quality matches, 256 samples at 50%,
 * BCE + L1) and proposals (top-k per level, decode, clip, per-level NMS,
 * top-k per image).
 */
export class Rpn extends Module {
  readonly rpn_head: RpnHead;
  readonly coder = new BoxCoder([1, 1, 1, 1]);
  private readonly cells: Float32Array[];

  constructor(
    readonly cfg: RpnConfig,
    readonly levels: { name: string; stride: number }[],
    channels: number,
    private readonly rng: Rng,
  ) {
    super();
    // The config schema guarantees one entry per level, each with the same number of sizes.
    this.cells = cfg.anchor_sizes.map((s) => cellAnchors(s, cfg.aspect_ratios));
    this.rpn_head = this.module('rpn_head', new RpnHead(channels, numBoxes(this.cells[0]!), cfg.num_convs, cfg.activation_checkpoint));
  }

  /** Anchors of every level for these feature maps (same for every image of the batch). */
  anchors(features: LevelShapes): BoxArray[] {
    return this.levels.map((l, i) => {
      const f = features.get(l.name)!;
      return gridAnchors(this.cells[i]!, f.shape[1]!, f.shape[2]!, l.stride);
    });
  }

  /**
   * The dense part: the shared head on every level, in level order — per
   * level objectness logits [B, H*W*A] and deltas [B, H*W*A, 4].
   */
  headOutputs(features: FeatureMaps): { logits: Tensor; deltas: Tensor }[] {
    return this.levels.map((l) => this.rpn_head.forward(features.get(l.name)!));
  }

  forward(
    features: FeatureMaps,
    imageSizes: [number, number][],
    gt?: GtInstances[],
  ): { proposals: Proposals[]; losses: Map<string, Tensor> } {
    const anchors = this.anchors(features);
    const heads = this.headOutputs(features);
    const losses = new Map<string, Tensor>();
    if (this.training && gt) {
      const { cls, loc } = this.losses(anchors, heads, gt);
      losses.set('loss_rpn_cls', tf.mul(cls, this.cfg.loss_weight));
      losses.set('loss_rpn_loc', tf.mul(loc, this.cfg.loss_weight));
    }
    // Host-side work on the head outputs; the caller's tidy scope frees the tensors.
    const proposals = this.proposals(anchors, heads, imageSizes);
    return { proposals, losses };
  }

  /**
   * Proposals from the head's outputs (computed here or by another engine):
   * top-k per level, decode, clip, NMS per level, top-k per image. Reads the
   * outputs to the host; the caller owns them.
   */
  proposalsFrom(features: LevelShapes, heads: { logits: Tensor; deltas: Tensor }[], imageSizes: [number, number][]): Proposals[] {
    return this.proposals(this.anchors(features), heads, imageSizes);
  }

  private losses(anchors: BoxArray[], heads: { logits: Tensor; deltas: Tensor }[], gt: GtInstances[]): { cls: Tensor; loc: Tensor } {
    const all = concatBoxes(anchors);
    const numAnchors = numBoxes(all);
    const perImage = this.cfg.batch_size_per_image;
    const logits = tf.concat(heads.map((h) => h.logits), 1); // [B, N]
    const deltas = tf.concat(heads.map((h) => h.deltas), 1); // [B, N, 4]
    const clsTerms: Tensor[] = [];
    const locTerms: Tensor[] = [];
    gt.forEach((g, b) => {
      const numGt = numBoxes(g.boxes);
      const iou = numGt > 0 ? pairwiseIou(g.boxes, all) : new Float32Array(0);
      const m = matchPredictions(iou, numGt, numAnchors, this.cfg.iou_thresholds, [0, -1, 1], true);
      const { pos, neg } = sampleLabels(
        (i) => m.labels[i] === 1,
        (i) => m.labels[i] === 0,
        numAnchors,
        perImage,
        this.cfg.positive_fraction,
        this.rng,
      );
      const idx = [...pos, ...neg];
      const target = new Float32Array(idx.length);
      target.fill(1, 0, pos.length);
      const imgLogits = logits.slice([b, 0], [1, numAnchors]).reshape([numAnchors, 1]);
      clsTerms.push(bceWithLogitsSum(gatherRows(imgLogits, tf.tensor1d(idx, 'int32')).reshape([-1]), tf.tensor1d(target)));
      if (pos.length > 0) {
        const targets = this.coder.encode(selectBoxes(all, pos), selectBoxes(g.boxes, pos.map((i) => m.matches[i]!)));
        const pred = gatherRows(deltas.slice([b, 0, 0], [1, numAnchors, 4]).reshape([numAnchors, 4]), tf.tensor1d(pos, 'int32'));
        locTerms.push(smoothL1Sum(pred, tf.tensor2d(targets, [pos.length, 4]), 0));
      }
    });
    const norm = perImage * gt.length;
    const cls = tf.div(tf.addN(clsTerms), norm);
    const loc = locTerms.length ? tf.div(tf.addN(locTerms), norm) : tf.mul(tf.sum(deltas), 0);
    return { cls, loc };
  }

  private proposals(anchors: BoxArray[], heads: { logits: Tensor; deltas: Tensor }[], imageSizes: [number, number][]): Proposals[] {
    const preTopk = this.training ? this.cfg.pre_nms_topk_train : this.cfg.pre_nms_topk_test;
    const postTopk = this.training ? this.cfg.post_nms_topk_train : this.cfg.post_nms_topk_test;
    const levelLogits = heads.map((h) => h.logits.dataSync() as Float32Array);
    const levelDeltas = heads.map((h) => h.deltas.dataSync() as Float32Array);
    return imageSizes.map(([h, w], b) => {
      const boxes: number[] = [];
      const scores: number[] = [];
      const lvls: number[] = [];
      anchors.forEach((a, l) => {
        const n = numBoxes(a);
        const lg = levelLogits[l]!.subarray(b * n, (b + 1) * n);
        const dl = levelDeltas[l]!.subarray(b * n * 4, (b + 1) * n * 4);
        const k = Math.min(preTopk, n);
        const top = topK(lg, k);
        const sel = selectBoxes(a, top);
        const d = new Float32Array(k * 4);
        top.forEach((i, j) => d.set(dl.subarray(i * 4, i * 4 + 4), j * 4));
        const decoded = clipBoxes(this.coder.decode(d, sel), h, w);
        for (let j = 0; j < k; j++) {
          const bw = decoded[j * 4 + 2]! - decoded[j * 4]!;
          const bh = decoded[j * 4 + 3]! - decoded[j * 4 + 1]!;
          if (!(bw > this.cfg.min_box_size && bh > this.cfg.min_box_size) || !Number.isFinite(lg[top[j]!]!)) continue;
          boxes.push(decoded[j * 4]!, decoded[j * 4 + 1]!, decoded[j * 4 + 2]!, decoded[j * 4 + 3]!);
          scores.push(lg[top[j]!]!);
          lvls.push(l);
        }
      });
      const bx = Float32Array.from(boxes);
      const keep = batchedNms(bx, scores, lvls, this.cfg.nms_thresh).slice(0, postTopk);
      return { boxes: selectBoxes(bx, keep), logits: Float32Array.from(keep, (i) => scores[i]!) };
    });
  }
}

/** Indices of the k largest values, descending (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}
