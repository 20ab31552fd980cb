import { Module, ModuleList } from '../engine/module.js';
import { tf, type Tensor } from '../engine/tf.js';
import { LayerNorm } from '../engine/layers/layer-norm.js';
import { Linear } from '../engine/layers/linear.js';
import { dense } from '../engine/ops/dense.js';
import { withoutGradient } from '../engine/ops/custom-grad.js';
import { resize2d } from '../engine/ops/resize.js';
import * as init from '../engine/init.js';
import { MultiheadAttention } from './multihead-attention.js';
import { sinePositionEncoding } from './position-encoding.js';

/** Large negative added to masked attention logits (finite, so fully masked rows stay finite). */
const MASKED = -1e9;

class DecoderLayer extends Module {
  readonly cross_attn: MultiheadAttention;
  readonly norm_cross: LayerNorm;
  readonly self_attn: MultiheadAttention;
  readonly norm_self: LayerNorm;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm_ffn: LayerNorm;
  constructor(dim: number, heads: number, ffn: number) {
    super();
    this.cross_attn = this.module('cross_attn', new MultiheadAttention(dim, heads));
    this.norm_cross = this.module('norm_cross', new LayerNorm(dim));
    this.self_attn = this.module('self_attn', new MultiheadAttention(dim, heads));
    this.norm_self = this.module('norm_self', new LayerNorm(dim));
    this.linear1 = this.module('linear1', new Linear(dim, ffn));
    this.linear2 = this.module('linear2', new Linear(ffn, dim));
    this.norm_ffn = this.module('norm_ffn', new LayerNorm(dim));
  }
}

/** The prediction MLP for mask embeddings (3 layers, ReLU between). */
class Mlp extends Module {
  readonly layers: ModuleList<Linear>;
  constructor(inDim: number, hidden: number, outDim: number, n: number) {
    super();
    this.layers = this.module('layers', new ModuleList(Array.from({ length: n }, (_, i) => new Linear(i === 0 ? inDim : hidden, i === n - 1 ? outDim : hidden))));
  }
  forward(x: Tensor): Tensor {
    let t = x;
    this.layers.items.forEach((l, i) => {
      t = l.forward(t);
      if (i < this.layers.length - 1) t = tf.relu(t);
    });
    return t;
  }
}

export interface DecoderOptions {
  dim: number;
  heads: number;
  ffn: number;
  layers: number;
  queries: number;
  numClasses: number;
  maskDim: number;
}

/** One set of predictions: class logits [B, Q, K+1] and mask logits [B, Q, H, W] (stride 4). */
export interface Prediction {
  logits: Tensor;
  masks: Tensor;
}

/**
 * Mask2Former's MultiScaleMaskedTransformerDecoder: learnable query
 * features and positions; layer i attends (masked by the previous
 * prediction's foreground, fully-masked rows unmasked) to level i mod 3 of
 * the pixel decoder (coarsest first), then self-attends, then an FFN, all
 * post-norm. Predictions (class + mask) come after the queries' init and
 * after every layer; all are supervised.
 */
export class MaskedAttentionDecoder extends Module {
  readonly query_feat: tf.Variable;
  readonly query_embed: tf.Variable;
  readonly level_embed: tf.Variable;
  readonly layers: ModuleList<DecoderLayer>;
  readonly decoder_norm: LayerNorm;
  readonly class_embed: Linear;
  readonly mask_embed: Mlp;

  constructor(readonly opts: DecoderOptions) {
    super();
    const { dim } = opts;
    this.query_feat = this.param('query_feat', init.normal([opts.queries, dim], 1));
    this.query_embed = this.param('query_embed', init.normal([opts.queries, dim], 1));
    this.level_embed = this.param('level_embed', init.normal([3, dim], 1));
    this.layers = this.module('layers', new ModuleList(Array.from({ length: opts.layers }, () => new DecoderLayer(dim, opts.heads, opts.ffn))));
    this.decoder_norm = this.module('decoder_norm', new LayerNorm(dim));
    this.class_embed = this.module('class_embed', new Linear(dim, opts.numClasses + 1));
    this.mask_embed = this.module('mask_embed', new Mlp(dim, dim, opts.maskDim, 3));
  }

  /** Class and mask predictions, and the attention mask for a level of size (h, w): [B·heads, Q, h·w]. */
  private predict(output: Tensor, maskFeatures: Tensor, target: [number, number]): { pred: Prediction; attnMask: Tensor } {
    const [b, q, c] = output.shape as [number, number, number];
    const [, hm, wm, dm] = maskFeatures.shape as [number, number, number, number];
    const x = this.decoder_norm.forward(output);
    const logits = this.class_embed.forward(x);
    const emb = this.mask_embed.forward(x); // [B, Q, Dm]
    // masks[b, q, y, x] = Σ_c emb[b, q, c] · features[b, y, x, c]
    const per: Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const f = maskFeatures.slice([i, 0, 0, 0], [1, hm, wm, dm]).reshape([hm * wm, dm]);
      const e = emb.slice([i, 0, 0], [1, q, dm]).reshape([q, dm]);
      per.push(dense(e, f.transpose()).reshape([1, q, hm, wm]));
    }
    const masks = per.length === 1 ? per[0]! : tf.concat(per, 0);
    const attnMask = withoutGradient([masks], ([m]) => {
      // Foreground (sigmoid ≥ 0.5) is attended; rows with no foreground attend everywhere.
      const small = resize2d(m!.transpose([0, 2, 3, 1]), target[0], target[1], 'linear').transpose([0, 3, 1, 2]).reshape([b, q, target[0] * target[1]]);
      const fg = tf.cast(tf.greaterEqual(small, 0), 'float32');
      const anyFg = tf.cast(tf.greater(tf.sum(fg, 2, true), 0), 'float32');
      const allowed = tf.add(tf.mul(fg, anyFg), tf.sub(1, anyFg));
      const add = tf.mul(tf.sub(1, allowed), MASKED);
      return tf.tile(add.reshape([b, 1, q, target[0] * target[1]]), [1, this.opts.heads, 1, 1]).reshape([b * this.opts.heads, q, target[0] * target[1]]);
    });
    void c;
    return { pred: { logits, masks }, attnMask };
  }

  /**
   * multiScale: three NHWC maps, coarsest first; maskFeatures [B, H4, W4, Dm].
   * Returns [initial, …after each layer]; with `lastOnly` (inference) only
   * the last, and each layer's intermediates, its attention mask and the
   * earlier predictions are freed as soon as the next layer has used them
   * (at 896² the ten predictions and their attention masks held ~1 GB).
   */
  forward(multiScale: Tensor[], maskFeatures: Tensor, opts: { lastOnly?: boolean } = {}): Prediction[] {
    const { dim, queries } = this.opts;
    const b = maskFeatures.shape[0]!;
    const shapes = multiScale.map((m) => [m.shape[1]!, m.shape[2]!] as [number, number]);
    const src = multiScale.map((m, i) => tf.add(m.reshape([b, -1, dim]), this.level_embed.slice([i, 0], [1, dim]).reshape([1, 1, dim])));
    const pos = shapes.map(([h, w]) => tf.tile(sinePositionEncoding(h, w, dim / 2).reshape([1, h * w, dim]), [b, 1, 1]));
    const queryPos = tf.tile(this.query_embed.reshape([1, queries, dim]), [b, 1, 1]);
    let output = tf.tile(this.query_feat.reshape([1, queries, dim]), [b, 1, 1]);
    const preds: Prediction[] = [];
    let { pred, attnMask } = this.predict(output, maskFeatures, shapes[0]!);
    preds.push(pred);
    this.layers.items.forEach((layer, i) => {
      const l = i % 3;
      const [prevOutput, prevMask, prevPred] = [output, attnMask, pred];
      // One scope per layer: only its output, prediction and next mask leave it.
      [output, pred, attnMask] = scoped(() => {
        let out = layer.norm_cross.forward(tf.add(prevOutput, layer.cross_attn.forward(tf.add(prevOutput, queryPos), tf.add(src[l]!, pos[l]!), src[l]!, prevMask)));
        const qs = tf.add(out, queryPos);
        out = layer.norm_self.forward(tf.add(out, layer.self_attn.forward(qs, qs, out)));
        out = layer.norm_ffn.forward(tf.add(out, layer.linear2.forward(tf.relu(layer.linear1.forward(out)))));
        const next = this.predict(out, maskFeatures, shapes[(i + 1) % 3]!);
        return [out, next.pred, next.attnMask];
      });
      if (opts.lastOnly) {
        for (const t of [prevOutput, prevMask, prevPred.logits, prevPred.masks]) t.dispose();
        preds.pop();
      }
      preds.push(pred);
    });
    if (opts.lastOnly) attnMask.dispose();
    return preds;
  }
}

/** Run `f` in its own scope, keeping what it returns (an output, a prediction, a mask). */
function scoped(f: () => [Tensor, Prediction, Tensor]): [Tensor, Prediction, Tensor] {
  let out: [Tensor, Prediction, Tensor] | undefined;
  tf.tidy(() => {
    out = f();
    return [out[0], out[1].logits, out[1].masks, out[2]];
  });
  return out!;
}
