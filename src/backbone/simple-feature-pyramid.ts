import { maybeCheckpoint } from '../engine/ops/activation-checkpoint.js';
import { Module } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { convolve } from '../engine/layers/conv2d.js';
import { ConvTranspose2d } from '../engine/layers/conv-transpose2d.js';
import { ChannelLayerNorm } from '../engine/layers/layer-norm.js';
import { gelu } from '../engine/layers/activations.js';
import { maxPool2d, subsample } from '../engine/layers/pooling.js';
import * as init from '../engine/init.js';

/** detectron2's Conv2d(bias=False, norm=LN): conv then channel LayerNorm, no activation. Params `weight`, `norm.*`. */
export class ConvNorm extends Module {
  readonly weight: tf.Variable;
  readonly norm: ChannelLayerNorm;
  constructor(
    inCh: number,
    outCh: number,
    readonly kernel: number,
    eps: number,
  ) {
    super();
    // c2_msra_fill: kaiming-normal (fan-out), as detectron2 initialises these convs.
    this.weight = this.param('weight', init.kaimingNormalFanOut([kernel, kernel, inCh, outCh], outCh * kernel * kernel));
    this.norm = this.module('norm', new ChannelLayerNorm(outCh, eps));
  }

  forward(x: Tensor): Tensor {
    return this.norm.forward(convolve(x, this.weight, 1, (this.kernel - 1) / 2));
  }
}

/**
 * ConvNorm + ReLU layers applied in turn (the ROI box and mask heads), each
 * in its own scope: a layer's temporaries (LayerNorm's handful of tensors
 * the layer's size, 50 MB each at 1000 inference ROIs) are freed as soon as
 * it is done, and so is its input once the next layer has it (tensors a
 * gradient needs are kept by the tape). With `checkpoint` each layer is
 * recomputed in the backward pass instead of keeping its intermediates.
 */
export function convNormReluStack(convs: readonly ConvNorm[], x: Tensor, checkpoint: boolean): Tensor {
  let t = x;
  for (const c of convs) {
    const prev = t;
    t = tf.tidy(() => maybeCheckpoint(checkpoint, c, prev, (u) => tf.relu(c.forward(u))));
    if (prev !== x) prev.dispose();
  }
  return t;
}

/** One pyramid level: its resampling layers, then 1x1 and 3x3 ConvNorm. Children are named by detectron2's indices. */
class PyramidLevel extends Module {
  private readonly up: ConvTranspose2d[] = [];
  private upNorm?: ChannelLayerNorm;
  private readonly pool: boolean;
  readonly lateral: ConvNorm;
  readonly output: ConvNorm;

  constructor(
    scale: number,
    dim: number,
    outChannels: number,
    eps: number,
    /** Recompute each stage in the backward pass (the stride-4 level holds ~1 GB of intermediates at 1024²). */
    private readonly checkpoint = false,
  ) {
    super();
    let ch = dim;
    let next = 0;
    this.pool = scale === 0.5;
    if (scale === 4) {
      this.up.push(this.module('0', new ConvTranspose2d(dim, dim / 2, 2, 2)));
      this.upNorm = this.module('1', new ChannelLayerNorm(dim / 2, eps));
      this.up.push(this.module('3', new ConvTranspose2d(dim / 2, dim / 4, 2, 2)));
      ch = dim / 4;
      next = 4;
    } else if (scale === 2) {
      this.up.push(this.module('0', new ConvTranspose2d(dim, dim / 2, 2, 2)));
      ch = dim / 2;
      next = 1;
    } else if (scale === 1) {
      next = 0;
    } else if (scale === 0.5) {
      next = 1; // index 0 is the parameter-free max pool
    } else {
      throw new Error(`scale factor ${scale} is not supported (4, 2, 1, 0.5)`);
    }
    this.lateral = this.module(String(next), new ConvNorm(ch, outChannels, 1, eps));
    this.output = this.module(String(next + 1), new ConvNorm(outChannels, outChannels, 3, eps));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    if (this.pool) y = maxPool2d(y, 2, 2);
    if (this.up.length === 2) {
      // Two steps: each deconvolution's output is 4x its input's area.
      y = maybeCheckpoint(this.checkpoint, [this.up[0]!, this.upNorm!], y, (t) => gelu(this.upNorm!.forward(this.up[0]!.forward(t))));
      y = maybeCheckpoint(this.checkpoint, this.up[1]!, y, (t) => this.up[1]!.forward(t));
    } else if (this.up.length === 1) {
      y = maybeCheckpoint(this.checkpoint, this.up[0]!, y, (t) => this.up[0]!.forward(t));
    }
    y = maybeCheckpoint(this.checkpoint, this.lateral, y, (t) => this.lateral.forward(t));
    return maybeCheckpoint(this.checkpoint, this.output, y, (t) => this.output.forward(t));
  }
}

export interface PyramidOptions {
  dim: number;
  outChannels: number;
  scaleFactors: number[];
  /** Add p6 = max-pool(kernel 1, stride 2) of the coarsest level. */
  topBlock: boolean;
  normEps: number;
  /** Stride of the input map (16 for a ViT with patch 16). */
  inStride: number;
  /** Activation checkpointing of every level's stages (training only). */
  checkpoint?: boolean;
}

/** A pyramid: level name ("p2"…) → NHWC map. */
export type FeatureMaps = Map<string, Tensor>;

/** A pyramid's level shapes alone (level name → NHWC shape): what anchors need, whichever engine holds the maps. */
export type LevelShapes = ReadonlyMap<string, { readonly shape: readonly number[] }>;

/**
 * ViTDet's Simple Feature Pyramid on a single stride-16 map: deconvolutions
 * for strides 4 and 8, identity for 16, max-pool for 32, each followed by
 * 1x1 and 3x3 conv + LayerNorm; p6 by subsampling p5. Children are named
 * `simfp_{log2 stride}` with detectron2's inner indices.
 */
export class SimpleFeaturePyramid extends Module {
  private readonly levels: { name: string; stride: number; module: PyramidLevel }[] = [];
  constructor(readonly opts: PyramidOptions) {
    super();
    for (const s of opts.scaleFactors) {
      const stride = opts.inStride / s;
      const stage = Math.round(Math.log2(stride));
      this.levels.push({ name: `p${stage}`, stride, module: this.module(`simfp_${stage}`, new PyramidLevel(s, opts.dim, opts.outChannels, opts.normEps, opts.checkpoint ?? false)) });
    }
  }

  /** Level names and strides, finest first (p6 included when the top block is on). */
  get strides(): { name: string; stride: number }[] {
    const out = this.levels.map((l) => ({ name: l.name, stride: l.stride }));
    if (this.opts.topBlock) {
      const last = out[out.length - 1]!;
      out.push({ name: `p${Math.round(Math.log2(last.stride)) + 1}`, stride: last.stride * 2 });
    }
    return out;
  }

  forward(x: Tensor): FeatureMaps {
    const out: FeatureMaps = new Map();
    for (const l of this.levels) out.set(l.name, l.module.forward(x));
    if (this.opts.topBlock) {
      const last = this.levels[this.levels.length - 1]!;
      out.set(`p${Math.round(Math.log2(last.stride)) + 1}`, subsample(out.get(last.name)!, 2));
    }
    return out;
  }
}
