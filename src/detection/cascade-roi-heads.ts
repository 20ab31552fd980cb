import { ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import type { Rng } from '../engine/random.js';
import type { CascadeConfig, RoiHeadsConfig, TestConfig } from '../config/schema.js';
import type { FeatureMaps } from '../backbone/simple-feature-pyramid.js';
import { clipBoxes, nonEmpty, numBoxes, selectBoxes, type BoxArray } from '../structures/boxes.js';
import type { Detections, GtInstances } from '../structures/instances.js';
import { BoxCoder } from './box-coder.js';
import { BoxPredictor, ConvFcHead } from './box-head.js';
import { decodePerClass, fastRcnnInference, fastRcnnLosses, type LabeledProposals } from './fast-rcnn.js';
import { batchBoxes, labelBoxes, RoiHeadsBase, type RoiHeadRunner } from './roi-heads.js';
import type { Proposals } from './rpn.js';
import { scaleGradient } from '../engine/ops/scale-gradient.js';

/**
 * Cascade R-CNN's ROI heads (detectron2's CascadeROIHeads as ViTDet
 * configures it): three stages, each a 4conv1fc head with class-agnostic
 * regression at increasing IoU (0.5/0.6/0.7) and box weights; stage k > 0
 * refines stage k-1's (detached) boxes and only re-labels them; the box
 * features' gradient is scaled by 1/stages; at test time the class
 * probabilities are averaged over stages and the boxes come from the last.
 */
export class CascadeRoiHeads extends RoiHeadsBase {
  readonly box_head: ModuleList<ConvFcHead>;
  readonly box_predictor: ModuleList<BoxPredictor>;
  readonly coders: BoxCoder[];

  constructor(
    cfg: RoiHeadsConfig,
    readonly cascade: CascadeConfig,
    test: TestConfig,
    levels: { name: string; stride: number }[],
    channels: number,
    rng: Rng,
  ) {
    super(cfg, test, levels, channels, rng);
    // The config schema guarantees one set of box weights per stage.
    const n = cascade.iou_thresholds.length;
    this.box_head = this.module('box_head', new ModuleList(Array.from({ length: n }, () => new ConvFcHead(channels, cfg.box_pooler_resolution, cfg.num_convs, cfg.conv_dim, cfg.fc_dim, cfg.activation_checkpoint))));
    this.box_predictor = this.module('box_predictor', new ModuleList(Array.from({ length: n }, () => new BoxPredictor(cfg.fc_dim, cfg.num_classes, true))));
    this.coders = cascade.box_reg_weights.map((w) => new BoxCoder(w));
    this.registerMaskHead();
  }

  get numStages(): number {
    return this.coders.length;
  }

  get numBoxStages(): number {
    return this.numStages;
  }

  boxHeadOnPooled(k: number, pooled: Tensor): { scores: Tensor; deltas: Tensor } {
    if (k < 0 || k >= this.numStages) throw new Error(`box stage ${k} does not exist: the cascade has ${this.numStages}`);
    // The stages share the pooled features: each passes back a 1/stages share of their gradient.
    const shared = scaleGradient(pooled, 1 / this.numStages);
    return this.box_predictor.items[k]!.forward(this.box_head.items[k]!.forward(shared));
  }

  private runStage(k: number, features: FeatureMaps, boxes: BoxArray[]): { scores: Tensor; deltas: Tensor } {
    const { boxes: all, batchIndex } = batchBoxes(boxes);
    return this.boxStage(k, features, all, batchIndex);
  }

  /** Each image's boxes after stage k's (agnostic) regression, clipped. */
  private refine(k: number, deltas: Float32Array, boxes: BoxArray[], imageSizes: [number, number][]): BoxArray[] {
    let o = 0;
    return boxes.map((b, i) => {
      const n = numBoxes(b);
      const out = clipBoxes(this.coders[k]!.decode(deltas.subarray(o * 4, (o + n) * 4), b), imageSizes[i]![0], imageSizes[i]![1]);
      o += n;
      return out;
    });
  }

  forward(features: FeatureMaps, proposals: Proposals[], imageSizes: [number, number][], gt: GtInstances[]): Map<string, Tensor> {
    const losses = new Map<string, Tensor>();
    const K = this.cfg.num_classes;
    const sampled = this.labelAndSample(proposals, gt);
    let labeled: LabeledProposals[] = sampled;
    for (let k = 0; k < this.numStages; k++) {
      if (k > 0) {
        // Re-label the previous stage's boxes at this stage's IoU (no resampling); drop empty boxes.
        labeled = labeled.map((l, i) => {
          const keep = nonEmpty(l.boxes);
          return labelBoxes(selectBoxes(l.boxes, keep), gt[i]!, this.cascade.iou_thresholds[k]!, K);
        });
      }
      const { scores, deltas } = this.runStage(k, features, labeled.map((l) => l.boxes));
      const { cls, box } = fastRcnnLosses(scores, deltas, labeled, K, this.coders[k]!, true, this.cfg.smooth_l1_beta);
      losses.set(`loss_cls_stage${k}`, cls);
      losses.set(`loss_box_reg_stage${k}`, box);
      if (k + 1 < this.numStages) {
        const next = this.refine(k, deltas.dataSync() as Float32Array, labeled.map((l) => l.boxes), imageSizes);
        labeled = labeled.map((l, i) => ({ ...l, boxes: next[i]! }));
      }
    }
    const mask = this.maskLoss(features, sampled, gt, imageSizes);
    if (mask) losses.set('loss_mask', mask);
    return losses;
  }

  async infer(proposals: Proposals[], imageSizes: [number, number][], runner: RoiHeadRunner): Promise<Detections[]> {
    const K = this.cfg.num_classes;
    let boxes = proposals.map((p) => p.boxes);
    let probSum: Float32Array | undefined;
    let lastDeltas: Float32Array = new Float32Array(0);
    for (let k = 0; k < this.numStages; k++) {
      if (k > 0) boxes = this.refine(k - 1, lastDeltas, boxes, imageSizes);
      const { boxes: all, batchIndex } = batchBoxes(boxes);
      const { probs, deltas } = await runner.boxHead(k, all, batchIndex);
      lastDeltas = deltas;
      if (!probSum) probSum = Float32Array.from(probs);
      else for (let i = 0; i < probs.length; i++) probSum[i]! += probs[i]!;
    }
    const mean = probSum!.map((v) => v / this.numStages);
    const last = this.numStages - 1;
    let o = 0;
    const detections = boxes.map((b, i) => {
      const n = numBoxes(b);
      const pr = mean.subarray(o * (K + 1), (o + n) * (K + 1));
      const dl = lastDeltas.subarray(o * 4, (o + n) * 4);
      o += n;
      return fastRcnnInference(pr, decodePerClass(dl, b, K, this.coders[last]!, true), K, imageSizes[i]!, this.test);
    });
    await this.predictMasks(detections, runner);
    return detections;
  }
}
