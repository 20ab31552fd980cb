import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { Conv2d } from '../engine/layers/conv2d.js';
import { ConvTranspose2d } from '../engine/layers/conv-transpose2d.js';
import { BatchNorm2d } from '../engine/layers/batch-norm.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { Linear } from '../engine/layers/linear.js';
import { gelu } from '../engine/layers/activations.js';
import { maxPool2d } from '../engine/layers/pooling.js';
import { depthwiseConv2d } from '../engine/ops/depthwise-conv2d.js';
import { resize2d } from '../engine/ops/resize.js';
import * as init from '../engine/init.js';
import { MsDeformAttn, levelReferencePoints } from '../engine/layers/ms-deform-attn.js';
import { Beit3Encoder } from './beit3.js';
import { memoryStage } from '../engine/wasm-memory.js';
import { freeUntaped } from '../engine/ops/eager.js';

/** Conv (no bias) + BatchNorm + ReLU. */
class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(inCh: number, outCh: number, stride: number) {
    super();
    this.conv = this.module('conv', new Conv2d(inCh, outCh, 3, { stride, padding: 1, bias: false, initWeight: (s) => init.kaimingNormalFanOut(s, outCh * 9) }));
    this.bn = this.module('bn', new BatchNorm2d(outCh));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => tf.relu(this.bn.forward(this.conv.forward(x))));
  }
}

/**
 * ViT-Adapter's spatial prior module: a conv stem to stride 4, then stride
 * 8/16/32 convs; 1x1 projections to the ViT width. Returns c1 (stride-4 map)
 * and the stride 8/16/32 maps.
 */
export class SpatialPriorModule extends Module {
  readonly stem: ModuleList<ConvBnRelu>;
  readonly conv2: ConvBnRelu;
  readonly conv3: ConvBnRelu;
  readonly conv4: ConvBnRelu;
  readonly fc: ModuleList<Conv2d>;
  constructor(inplanes: number, dim: number) {
    super();
    this.stem = this.module('stem', new ModuleList([new ConvBnRelu(3, inplanes, 2), new ConvBnRelu(inplanes, inplanes, 1), new ConvBnRelu(inplanes, inplanes, 1)]));
    this.conv2 = this.module('conv2', new ConvBnRelu(inplanes, 2 * inplanes, 2));
    this.conv3 = this.module('conv3', new ConvBnRelu(2 * inplanes, 4 * inplanes, 2));
    this.conv4 = this.module('conv4', new ConvBnRelu(4 * inplanes, 4 * inplanes, 2));
    this.fc = this.module('fc', new ModuleList([inplanes, 2 * inplanes, 4 * inplanes, 4 * inplanes].map((c) => new Conv2d(c, dim, 1))));
  }
  forward(images: Tensor): Tensor[] {
    let x = images;
    for (const s of this.stem.items) {
      const prev = x;
      x = s.forward(prev);
      if (prev !== images) freeUntaped(prev);
    }
    const c1 = maxPool2d(x, 3, 2, 1);
    const c2 = this.conv2.forward(c1);
    const c3 = this.conv3.forward(c2);
    const c4 = this.conv4.forward(c3);
    return [c1, c2, c3, c4].map((c, i) => this.fc.items[i]!.forward(c));
  }
}

/** ConvFFN: fc1 → depthwise 3x3 on each of the three maps → GELU → fc2. */
class ConvFfn extends Module {
  readonly fc1: Linear;
  readonly dw: tf.Variable;
  readonly dwBias: tf.Variable;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.module('fc1', new Linear(dim, hidden));
    this.dw = this.param('dwconv_weight', init.torchDefaultWeight([3, 3, hidden, 1], 9));
    this.dwBias = this.param('dwconv_bias', init.torchDefaultWeight([hidden], 9));
    this.fc2 = this.module('fc2', new Linear(hidden, dim));
  }
  /** x: [B, N, C] tokens of the three maps in order (2h×2w, h×w, h/2×w/2). */
  forward(x: Tensor, h: number, w: number): Tensor {
    const t = this.fc1.forward(x);
    const [b, , c] = t.shape as [number, number, number];
    const sizes: [number, number][] = [
      [2 * h, 2 * w],
      [h, w],
      [h / 2, w / 2],
    ];
    const parts: Tensor[] = [];
    let o = 0;
    for (const [hh, ww] of sizes) {
      const m = t.slice([0, o, 0], [b, hh * ww, c]).reshape([b, hh, ww, c]);
      parts.push(tf.add(depthwiseConv2d(m as tf.Tensor4D, this.dw as unknown as tf.Tensor4D, 1), this.dwBias).reshape([b, hh * ww, c]));
      o += hh * ww;
    }
    return this.fc2.forward(gelu(tf.concat(parts, 1)));
  }
}

/** Injector: ViT tokens attend (deformably) to the spatial prior, scaled by a learnable gamma. */
class Injector extends Module {
  readonly query_norm: LayerNorm;
  readonly feat_norm: LayerNorm;
  readonly attn: MsDeformAttn;
  readonly gamma: tf.Variable;
  constructor(dim: number, heads: number, points: number, ratio: number, initValue: number) {
    super();
    this.query_norm = this.module('query_norm', new LayerNorm(dim, 1e-6));
    this.feat_norm = this.module('feat_norm', new LayerNorm(dim, 1e-6));
    this.attn = this.module('attn', new MsDeformAttn({ dim, levels: 3, heads, points, ratio }));
    this.gamma = this.param('gamma', init.constant([dim], initValue));
  }
  forward(x: Tensor, ref: Tensor, c: Tensor, shapes: [number, number][]): Tensor {
    return tf.tidy(() => tf.add(x, tf.mul(this.gamma, this.attn.forward(this.query_norm.forward(x), ref, this.feat_norm.forward(c), shapes))));
  }
}

/** Extractor: the spatial prior attends to the ViT tokens, then a ConvFFN. */
class Extractor extends Module {
  readonly query_norm: LayerNorm;
  readonly feat_norm: LayerNorm;
  readonly attn: MsDeformAttn;
  readonly ffn_norm: LayerNorm;
  readonly ffn: ConvFfn;
  constructor(dim: number, heads: number, points: number, ratio: number, cffnRatio: number) {
    super();
    this.query_norm = this.module('query_norm', new LayerNorm(dim, 1e-6));
    this.feat_norm = this.module('feat_norm', new LayerNorm(dim, 1e-6));
    this.attn = this.module('attn', new MsDeformAttn({ dim, levels: 1, heads, points, ratio }));
    this.ffn_norm = this.module('ffn_norm', new LayerNorm(dim, 1e-6));
    this.ffn = this.module('ffn', new ConvFfn(dim, Math.round(dim * cffnRatio)));
  }
  /** In a scope of its own: at 896² an extractor's norms and ConvFFN over the prior's 16,464 tokens are ~0.3 GB. */
  forward(c: Tensor, ref: Tensor, x: Tensor, hw: [number, number]): Tensor {
    return tf.tidy(() => {
      const y = tf.add(c, this.attn.forward(this.query_norm.forward(c), ref, this.feat_norm.forward(x), [hw]));
      return tf.add(y, this.ffn.forward(this.ffn_norm.forward(y), hw[0], hw[1]));
    });
  }
}

export interface AdapterOptions {
  inplanes: number;
  heads: number;
  points: number;
  deformRatio: number;
  cffnRatio: number;
  initValues: number;
  /** Block index ranges [first, last] of each interaction. */
  interactions: [number, number][];
  addVitFeature: boolean;
}

/** The interaction indexes ViT-Adapter uses for a depth (four equal spans). */
export function interactionIndexes(depth: number): [number, number][] {
  const span = depth / 4;
  return [0, 1, 2, 3].map((i) => [Math.round(i * span), Math.round((i + 1) * span) - 1]);
}

/**
 * ViT-Adapter around the BEiT-3 encoder (plain mode, cls token carried
 * through the blocks): a spatial prior module, and per interaction an
 * injector (prior → ViT), the interaction's blocks, an extractor
 * (ViT → prior; the last interaction has two more). Output: a pyramid at
 * strides 4/8/16/32, all at the ViT width, each BatchNormed.
 */
export class VitAdapter extends Module {
  readonly net: Beit3Encoder;
  readonly spm: SpatialPriorModule;
  readonly level_embed: tf.Variable;
  readonly injectors: ModuleList<Injector>;
  readonly extractors: ModuleList<Extractor>;
  readonly extra_extractors: ModuleList<Extractor>;
  readonly up: ConvTranspose2d;
  readonly norms: ModuleList<BatchNorm2d>;

  constructor(
    encoder: Beit3Encoder,
    readonly opts: AdapterOptions,
  ) {
    super();
    const D = encoder.embedDim;
    this.net = this.module('net', encoder);
    this.spm = this.module('spm', new SpatialPriorModule(opts.inplanes, D));
    this.level_embed = this.param('level_embed', init.normal([3, D], 1));
    const n = opts.interactions.length;
    this.injectors = this.module('injectors', new ModuleList(Array.from({ length: n }, () => new Injector(D, opts.heads, opts.points, opts.deformRatio, opts.initValues))));
    this.extractors = this.module('extractors', new ModuleList(Array.from({ length: n }, () => new Extractor(D, opts.heads, opts.points, opts.deformRatio, opts.cffnRatio))));
    this.extra_extractors = this.module('extra_extractors', new ModuleList([0, 1].map(() => new Extractor(D, opts.heads, opts.points, opts.deformRatio, opts.cffnRatio))));
    this.up = this.module('up', new ConvTranspose2d(D, D, 2, 2));
    this.norms = this.module('norms', new ModuleList([0, 1, 2, 3].map(() => new BatchNorm2d(D))));
  }

  /** Images [B, H, W, 3] with H, W divisible by 32 → [f4, f8, f16, f32] NHWC maps. */
  forward(images: Tensor): [Tensor, Tensor, Tensor, Tensor] {
    const [b, H, W] = images.shape as [number, number, number, number];
    if (H % 32 !== 0 || W % 32 !== 0) throw new Error(`ViT-Adapter needs sizes divisible by 32, got ${H}x${W}`);
    const D = this.net.embedDim;
    const h = H / 16;
    const w = W / 16;
    // The stem's full-resolution intermediates (~0.9 GB at 896²) are freed here.
    const [c1, c] = memoryStage('spatial prior', () => tf.tidy(() => {
      const [m1, m2, m3, m4] = this.spm.forward(images);
      const tok = (m: Tensor, i: number) => tf.add(m.reshape([b, -1, D]), this.level_embed.slice([i, 0], [1, D]).reshape([1, 1, D]));
      return [m1!, tf.concat([tok(m2!, 0), tok(m3!, 1), tok(m4!, 2)], 1)];
    }));
    let prior = c!;
    const priorShapes: [number, number][] = [
      [2 * h, 2 * w],
      [h, w],
      [h / 2, w / 2],
    ];
    // Reference points: ViT tokens over the 3 prior levels; prior tokens over the ViT map.
    const ref1 = tf.tile(tf.tensor(levelReferencePoints([[h, w]]), [1, h * w, 1, 2]), [b, 1, 1, 1]);
    const r2 = levelReferencePoints(priorShapes);
    const ref2 = tf.tile(tf.tensor(r2, [1, r2.length / 2, 1, 2]), [b, 1, 1, 1]);
    // ViT embedding with the cls token (plain BEiT-3 path).
    const patches = this.net.patch_embed.forward(images).reshape([b, h * w, D]);
    const pos = this.net.gridPositions(h, w).reshape([1, h * w, D]);
    let x = tf.add(patches, pos);
    let cls = tf.add(tf.tile(this.net.cls_token!, [b, 1, 1]), this.net.pos_embed.slice([0, 0], [1, D]).reshape([1, 1, D]));
    const outs: Tensor[] = [];
    this.opts.interactions.forEach(([first, last], i) => {
      // One scope per interaction: only the tokens, the prior and the output
      // map leave it (the deformable attentions, ConvFFNs and norms of six
      // extractors over the 4·h·w-token prior otherwise all lived until the end).
      const [x0, cls0, c0] = [x, cls, prior];
      const [xi, clsi, ci, out] = memoryStage(`interaction ${i + 1}`, () => tf.tidy(() => {
        const xin = this.injectors.items[i]!.forward(x0, ref1, c0, priorShapes);
        let t = tf.concat([cls0, xin], 1);
        for (let k = first; k <= last; k++) {
          const prev = t;
          t = tf.tidy(() => this.net.blocks.items[k]!.forwardTokens(prev));
          prev.dispose();
        }
        const xo = t.slice([0, 1, 0], [b, h * w, D]);
        let co = this.extractors.items[i]!.forward(c0, ref2, xo, [h, w]);
        if (i === this.opts.interactions.length - 1) for (const e of this.extra_extractors.items) co = e.forward(co, ref2, xo, [h, w]);
        return [xo, t.slice([0, 0, 0], [b, 1, D]), co, xo.reshape([b, h, w, D])];
      }));
      for (const prev of [x0, cls0, c0]) prev.dispose();
      [x, cls, prior] = [xi!, clsi!, ci!];
      outs.push(out!);
    });
    // Split the prior back into maps; each level in its own scope (at 896²
    // the stride-4 level's upsampled, added and normalised copies are 154 MB each).
    const n2 = 4 * h * w;
    const n3 = h * w;
    const vit = this.opts.addVitFeature;
    const level = (i: number, f: () => Tensor) =>
      memoryStage('output maps', () =>
        tf.tidy(() => {
          const t = f();
          const y = this.norms.items[i]!.forward(t);
          freeUntaped(t);
          return y;
        }),
      );
    const f2 = () => prior.slice([0, 0, 0], [b, n2, D]).reshape([b, 2 * h, 2 * w, D]);
    const maps = [
      level(0, () => {
        const up = this.up.forward(f2());
        const t = tf.add(up, c1!);
        freeUntaped(up);
        if (!vit) return t;
        const fine = resize2d(outs[0]!, 4 * h, 4 * w, 'linear');
        const sum = tf.add(t, fine);
        freeUntaped(t, fine);
        return sum;
      }),
      level(1, () => (vit ? tf.add(f2(), resize2d(outs[1]!, 2 * h, 2 * w, 'linear')) : f2())),
      level(2, () => {
        const t = prior.slice([0, n2, 0], [b, n3, D]).reshape([b, h, w, D]);
        return vit ? tf.add(t, outs[2]!) : t;
      }),
      level(3, () => {
        const t = prior.slice([0, n2 + n3, 0], [b, n3 / 4, D]).reshape([b, h / 2, w / 2, D]);
        return vit ? tf.add(t, resize2d(outs[3]!, h / 2, w / 2, 'linear')) : t;
      }),
    ] as [Tensor, Tensor, Tensor, Tensor];
    for (const t of [c1!, prior, x, cls, ...outs]) t.dispose();
    return maps;
  }

  /** lr-decay layer id (ViT-Adapter's constructor: embeddings 0, block i → i+1, adapter and heads last). */
  layerId(name: string): number {
    const depth = this.net.opts.depth;
    return name.startsWith('net.') ? Beit3Encoder.layerId(name.slice(4), depth) : depth + 1;
  }
}
