import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Linear } from '../engine/layers/linear.js';
import { ConvNorm, convNormReluStack } from '../backbone/simple-feature-pyramid.js';
import * as init from '../engine/init.js';

/**
 * detectron2's "4conv1fc" head with LayerNorm (ViTDet): four 3x3 convs
 * (no bias) + LN + ReLU, flatten, one FC + ReLU. Input [R, 7, 7, C].
 * At 512 training ROIs one conv + LN + ReLU holds ~250 MB of intermediates
 * until the backward pass; checkpointing keeps only each conv's input.
 */
export class ConvFcHead extends Module {
  readonly convs: ModuleList<ConvNorm>;
  readonly fc1?: Linear;
  constructor(
    inChannels: number,
    resolution: number,
    numConvs: number,
    convDim: number,
    fcDim: number,
    /** Recompute each conv in the backward pass (see `roi_heads.activation_checkpoint`). */
    readonly checkpoint = false,
    eps = 1e-6,
  ) {
    super();
    const convs: ConvNorm[] = [];
    for (let i = 0; i < numConvs; i++) convs.push(new ConvNorm(i === 0 ? inChannels : convDim, convDim, 3, eps));
    this.convs = this.module('conv', new ModuleList(convs));
    const flat = (numConvs > 0 ? convDim : inChannels) * resolution * resolution;
    // c2_xavier_fill: kaiming-uniform(a=1) = U(±sqrt(3 / fan_in)).
    const bound = Math.sqrt(3 / flat);
    this.fc1 = this.module('fc1', new Linear(flat, fcDim, { initWeight: (s) => init.uniform(s, -bound, bound), initBias: (s) => init.zeros(s) }));
  }

  forward(x: Tensor): Tensor {
    const t = convNormReluStack(this.convs.items, x, this.checkpoint);
    const r = t.shape[0]!;
    return tf.relu(this.fc1!.forward(t.reshape([r, -1])));
  }
}

/** The box predictor: class scores (K + 1, background last) and box deltas (4K class-specific or 4 agnostic). */
export class BoxPredictor extends Module {
  readonly cls_score: Linear;
  readonly bbox_pred: Linear;
  constructor(
    inDim: number,
    readonly numClasses: number,
    readonly classAgnostic: boolean,
  ) {
    super();
    this.cls_score = this.module('cls_score', new Linear(inDim, numClasses + 1, { initWeight: (s) => init.normal(s, 0.01), initBias: (s) => init.zeros(s) }));
    this.bbox_pred = this.module('bbox_pred', new Linear(inDim, (classAgnostic ? 1 : numClasses) * 4, { initWeight: (s) => init.normal(s, 0.001), initBias: (s) => init.zeros(s) }));
  }

  forward(x: Tensor): { scores: Tensor; deltas: Tensor } {
    return { scores: this.cls_score.forward(x), deltas: this.bbox_pred.forward(x) };
  }
}
