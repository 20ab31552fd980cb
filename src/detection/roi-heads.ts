import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { readScoped } from '../engine/read-scoped.js';
import type { Rng } from '../engine/random.js';
import type { RoiHeadsConfig, TestConfig } from '../config/schema.js';
import type { FeatureMaps } from '../backbone/simple-feature-pyramid.js';
import { concatBoxes, numBoxes, pairwiseIou, selectBoxes, type BoxArray } from '../structures/boxes.js';
import type { Detections, GtInstances } from '../structures/instances.js';
import { cropAndResizeMask } from '../structures/masks.js';
import { concatFloat32 } from '../util/float-arrays.js';
import { BoxCoder } from './box-coder.js';
import { ConvFcHead, BoxPredictor } from './box-head.js';
import { MaskHead } from './mask-head.js';
import { matchPredictions } from './matcher.js';
import { MultiLevelRoiPooler } from './pooler.js';
import { sampleLabels } from './sampler.js';
import type { Proposals } from './rpn.js';
import { decodePerClass, fastRcnnInference, fastRcnnLosses, type LabeledProposals } from './fast-rcnn.js';
import { bceWithLogitsSum } from './losses.js';

/**
 * The dense steps of ROI-head inference, on pooled ROI features: run by
 * tfjs (the heads' own `tfjsRunner`) or by another engine (onnxruntime on
 * traced graphs). Results come back to the host, where NMS and box decoding
 * run.
 */
export interface RoiHeadRunner {
  /**
   * Box head `k` for boxes in the input frame, each with its batch image:
   * pooling and the head → class probabilities [R, K+1] (softmax,
   * background last) and deltas.
   */
  boxHead(k: number, boxes: BoxArray, batchIndex: Int32Array): Promise<{ probs: Float32Array; deltas: Float32Array }>;
  /** Pooling and the mask head for these boxes → each box's mask probabilities for its class, [R, M, M]. */
  maskProbs(boxes: BoxArray, batchIndex: Int32Array, classes: Int32Array): Promise<Float32Array>;
}

/** Flatten per-image boxes into one array plus each box's batch index. */
export function batchBoxes(perImage: BoxArray[]): { boxes: BoxArray; batchIndex: Int32Array } {
  const batchIndex = new Int32Array(perImage.reduce((s, b) => s + numBoxes(b), 0));
  let o = 0;
  perImage.forEach((b, i) => {
    batchIndex.fill(i, o, o + numBoxes(b));
    o += numBoxes(b);
  });
  return { boxes: concatBoxes(perImage), batchIndex };
}

/** Match boxes to GT and give each a class (background = numClasses below the threshold). */
export function labelBoxes(boxes: BoxArray, gt: GtInstances, iouThreshold: number, numClasses: number): LabeledProposals {
  const n = numBoxes(boxes);
  const numGt = numBoxes(gt.boxes);
  const classes = new Int32Array(n).fill(numClasses);
  const gtIndex = new Int32Array(n);
  if (numGt > 0) {
    const m = matchPredictions(pairwiseIou(gt.boxes, boxes), numGt, n, [iouThreshold], [0, 1], false);
    for (let i = 0; i < n; i++) {
      gtIndex[i] = m.matches[i]!;
      if (m.labels[i] === 1) classes[i] = gt.classes[m.matches[i]!]!;
    }
  }
  return { boxes, classes, gtIndex, gtBoxes: numGt > 0 ? selectBoxes(gt.boxes, gtIndex) : new Float32Array(n * 4) };
}

/**
 * What the standard and cascade ROI heads share: proposal sampling (GT
 * appended, matched at IoU 0.5, 512 per image at 25% foreground), the
 * poolers, and the mask branch (trained on foreground samples, run on final
 * detections at test time).
 */
export abstract class RoiHeadsBase extends Module {
  readonly boxPooler: MultiLevelRoiPooler;
  readonly maskPooler: MultiLevelRoiPooler;
  readonly mask_head?: MaskHead;

  constructor(
    readonly cfg: RoiHeadsConfig,
    readonly test: TestConfig,
    readonly levels: { name: string; stride: number }[],
    readonly channels: number,
    protected readonly rng: Rng,
  ) {
    super();
    this.boxPooler = new MultiLevelRoiPooler(levels, cfg.box_pooler_resolution, cfg.pooler_sampling_ratio);
    this.maskPooler = new MultiLevelRoiPooler(levels, cfg.mask_pooler_resolution, cfg.pooler_sampling_ratio);
  }

  protected registerMaskHead(): void {
    if (this.cfg.mask_on) {
      (this as { mask_head?: MaskHead }).mask_head = this.module('mask_head', new MaskHead(this.channels, this.cfg.conv_dim, this.cfg.mask_num_convs, this.cfg.num_classes, this.cfg.activation_checkpoint));
    }
  }

  /** detectron2's label_and_sample_proposals. */
  protected labelAndSample(proposals: Proposals[], gt: GtInstances[]): LabeledProposals[] {
    const K = this.cfg.num_classes;
    return proposals.map((p, b) => {
      const boxes = concatBoxes([p.boxes, gt[b]!.boxes]);
      const l = labelBoxes(boxes, gt[b]!, this.cfg.iou_threshold, K);
      const { pos, neg } = sampleLabels(
        (i) => l.classes[i]! < K,
        (i) => l.classes[i] === K,
        l.classes.length,
        this.cfg.batch_size_per_image,
        this.cfg.positive_fraction,
        this.rng,
      );
      const idx = [...pos, ...neg];
      return { boxes: selectBoxes(l.boxes, idx), classes: Int32Array.from(idx, (i) => l.classes[i]!), gtBoxes: selectBoxes(l.gtBoxes, idx), gtIndex: Int32Array.from(idx, (i) => l.gtIndex[i]!) };
    });
  }

  /** How many box heads run in turn (1, or the cascade's stages). */
  abstract get numBoxStages(): number;

  /**
   * The dense part of box head `k`: ROIAlign of the boxes (input frame,
   * with each box's batch image) on the pyramid, the head and its predictor
   * — class scores [R, K+1] (background last) and box deltas [R, 4K], or
   * [R, 4] when regression is class-agnostic (cascade).
   */
  boxStage(k: number, features: FeatureMaps, boxes: BoxArray, batchIndex: Int32Array): { scores: Tensor; deltas: Tensor } {
    return this.boxHeadOnPooled(k, this.boxPooler.forward(features, boxes, batchIndex));
  }

  /** Box head `k` on ROI features already pooled, [R, S, S, C] → scores [R, K+1] and deltas. */
  abstract boxHeadOnPooled(k: number, pooled: Tensor): { scores: Tensor; deltas: Tensor };

  /** The dense steps of inference on tfjs. */
  /** The ROI heads' dense steps on tfjs, pooling from `features`. */
  tfjsRunner(features: FeatureMaps): RoiHeadRunner {
    return {
      boxHead: async (k, boxes, batchIndex) => {
        const [probs, deltas] = readScoped(() => {
          const out = this.boxStage(k, features, boxes, batchIndex);
          return [tf.softmax(out.scores), out.deltas];
        }) as [Float32Array, Float32Array];
        return { probs, deltas };
      },
      maskProbs: async (boxes, batchIndex, classes) => readScoped(() => [tf.sigmoid(this.maskLogits(features, boxes, batchIndex, classes))])[0]!,
    };
  }

  /**
   * Inference: detections per image (in the padded input frame), with mask
   * probabilities when the model has masks; the dense steps on `runner`.
   */
  abstract infer(proposals: Proposals[], imageSizes: [number, number][], runner: RoiHeadRunner): Promise<Detections[]>;

  /** The dense part of the mask branch: each box's mask logits of its class, [R, M, M]. */
  maskLogits(features: FeatureMaps, boxes: BoxArray, batchIndex: Int32Array, classes: Int32Array): Tensor {
    if (!this.mask_head) throw new Error('maskLogits: this model has no mask head (roi_heads.mask_on is false)');
    return this.mask_head.classLogits(this.maskPooler.forward(features, boxes, batchIndex), classes);
  }

  /** Mask loss on the foreground of the sampled proposals (BCE, mean over pixels). */
  protected maskLoss(features: FeatureMaps, labeled: LabeledProposals[], gt: GtInstances[], imageSizes: [number, number][]): Tensor | undefined {
    if (!this.mask_head) return undefined;
    const K = this.cfg.num_classes;
    const M = this.cfg.mask_pooler_resolution * 2;
    const boxes: BoxArray[] = [];
    const classes: number[] = [];
    const targets: Float32Array[] = [];
    labeled.forEach((l, b) => {
      const fg: number[] = [];
      for (let i = 0; i < l.classes.length; i++) if (l.classes[i]! < K) fg.push(i);
      const masks = gt[b]!.masks;
      if (!masks) throw new Error('mask_on needs GT masks');
      boxes.push(selectBoxes(l.boxes, fg));
      for (const i of fg) {
        classes.push(l.classes[i]!);
        targets.push(cropAndResizeMask(masks[l.gtIndex[i]!]!, l.boxes.subarray(i * 4, i * 4 + 4), M, imageSizes[b]![0], imageSizes[b]![1]));
      }
    });
    if (classes.length === 0) return tf.mul(tf.sum(this.mask_head.predictor.weight), 0);
    const { boxes: all, batchIndex } = batchBoxes(boxes);
    const logits = this.maskLogits(features, all, batchIndex, Int32Array.from(classes));
    const target = tf.tensor3d(concatFloat32(targets), [classes.length, M, M]);
    return tf.div(bceWithLogitsSum(logits, target), classes.length * M * M);
  }

  /** Mask probabilities (M x M) of each final detection's class. */
  protected async predictMasks(dets: Detections[], runner: RoiHeadRunner): Promise<void> {
    if (!this.mask_head) return;
    const { boxes, batchIndex } = batchBoxes(dets.map((d) => d.boxes));
    if (batchIndex.length === 0) {
      for (const d of dets) d.maskProbs = [];
      return;
    }
    const classes = Int32Array.from(dets.flatMap((d) => Array.from(d.classes)));
    const probs = await runner.maskProbs(boxes, batchIndex, classes);
    const M = this.cfg.mask_pooler_resolution * 2;
    let o = 0;
    for (const d of dets) {
      d.maskProbs = [];
      for (let i = 0; i < d.scores.length; i++, o++) d.maskProbs.push(probs.slice(o * M * M, (o + 1) * M * M));
    }
  }

  /** Training: the named losses of the sampled proposals against the ground truth. */
  abstract forward(features: FeatureMaps, proposals: Proposals[], imageSizes: [number, number][], gt: GtInstances[]): Map<string, Tensor>;
}

/** Mask R-CNN's ROI heads: one 4conv1fc box head with class-specific regression, and the mask head. */
export class StandardRoiHeads extends RoiHeadsBase {
  readonly box_head: ConvFcHead;
  readonly box_predictor: BoxPredictor;
  readonly coder: BoxCoder;

  constructor(cfg: RoiHeadsConfig, test: TestConfig, levels: { name: string; stride: number }[], channels: number, rng: Rng) {
    super(cfg, test, levels, channels, rng);
    this.box_head = this.module('box_head', new ConvFcHead(channels, cfg.box_pooler_resolution, cfg.num_convs, cfg.conv_dim, cfg.fc_dim, cfg.activation_checkpoint));
    this.box_predictor = this.module('box_predictor', new BoxPredictor(cfg.fc_dim, cfg.num_classes, false));
    this.coder = new BoxCoder(cfg.box_reg_weights);
    this.registerMaskHead();
  }

  get numBoxStages(): number {
    return 1;
  }

  boxHeadOnPooled(k: number, pooled: Tensor): { scores: Tensor; deltas: Tensor } {
    if (k !== 0) throw new Error(`box stage ${k} does not exist: Mask R-CNN has one box head`);
    return this.box_predictor.forward(this.box_head.forward(pooled));
  }

  forward(features: FeatureMaps, proposals: Proposals[], imageSizes: [number, number][], gt: GtInstances[]): Map<string, Tensor> {
    const losses = new Map<string, Tensor>();
    const labeled = this.labelAndSample(proposals, gt);
    const { boxes, batchIndex } = batchBoxes(labeled.map((l) => l.boxes));
    const { scores, deltas } = this.boxStage(0, features, boxes, batchIndex);
    const { cls, box } = fastRcnnLosses(scores, deltas, labeled, this.cfg.num_classes, this.coder, false, this.cfg.smooth_l1_beta);
    losses.set('loss_cls', cls);
    losses.set('loss_box_reg', box);
    const mask = this.maskLoss(features, labeled, gt, imageSizes);
    if (mask) losses.set('loss_mask', mask);
    return losses;
  }

  async infer(proposals: Proposals[], imageSizes: [number, number][], runner: RoiHeadRunner): Promise<Detections[]> {
    const K = this.cfg.num_classes;
    const { boxes, batchIndex } = batchBoxes(proposals.map((p) => p.boxes));
    const { probs, deltas } = await runner.boxHead(0, boxes, batchIndex);
    let o = 0;
    const detections = proposals.map((p, b) => {
      const n = numBoxes(p.boxes);
      const pr = probs.subarray(o * (K + 1), (o + n) * (K + 1));
      const dl = deltas.subarray(o * K * 4, (o + n) * K * 4);
      o += n;
      return fastRcnnInference(pr, decodePerClass(dl, p.boxes, K, this.coder, false), K, imageSizes[b]!, this.test);
    });
    await this.predictMasks(detections, runner);
    return detections;
  }
}
