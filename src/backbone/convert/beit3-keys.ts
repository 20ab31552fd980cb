import type { HostTensor } from '../../io/host-tensor.js';
import { sliceRows, transposeHost } from '../../io/host-tensor.js';

/**
 * The map from official BEiT-3 checkpoint keys (unilm/torchscale, `beit3.`
 * prefix optional) to densekit's encoder names. Only the vision path is
 * kept — the multiway expert "A" — by an explicit whitelist; text experts
 * ("B"), the text embedding, the mask token and task heads are dropped.
 * Layouts change on the way: Linear [out,in] → [in,out], Conv OIHW → HWIO,
 * and the position table loses fairseq's two unused leading rows.
 */

type Transform = (t: HostTensor) => HostTensor;

const linearT: Transform = (t) => transposeHost(t, [1, 0]);
const convT: Transform = (t) => transposeHost(t, [2, 3, 1, 0]);
const same: Transform = (t) => t;
/** Rows 0 and 1 of the fairseq-style table are never used; row 2 is the cls position. */
const dropFairseqRows: Transform = (t) => sliceRows(t, 2, t.shape[0]!);

interface Rule {
  pattern: RegExp;
  target: (m: RegExpExecArray) => string;
  transform: Transform;
}

const RULES: Rule[] = [
  { pattern: /^vision_embed\.proj\.weight$/, target: () => 'patch_embed.proj.weight', transform: convT },
  { pattern: /^vision_embed\.proj\.bias$/, target: () => 'patch_embed.proj.bias', transform: same },
  { pattern: /^vision_embed\.cls_token$/, target: () => 'cls_token', transform: same },
  { pattern: /^encoder\.embed_positions\.A\.weight$/, target: () => 'pos_embed', transform: dropFairseqRows },
  { pattern: /^encoder\.layers\.(\d+)\.self_attn_layer_norm\.A\.(weight|bias)$/, target: (m) => `blocks.${m[1]}.norm1.${m[2]}`, transform: same },
  { pattern: /^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.A\.weight$/, target: (m) => `blocks.${m[1]}.attn.${m[2]}_proj.weight`, transform: linearT },
  { pattern: /^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.A\.bias$/, target: (m) => `blocks.${m[1]}.attn.${m[2]}_proj.bias`, transform: same },
  { pattern: /^encoder\.layers\.(\d+)\.self_attn\.inner_attn_ln\.A\.(weight|bias)$/, target: (m) => `blocks.${m[1]}.attn.inner_attn_ln.${m[2]}`, transform: same },
  { pattern: /^encoder\.layers\.(\d+)\.final_layer_norm\.A\.(weight|bias)$/, target: (m) => `blocks.${m[1]}.norm2.${m[2]}`, transform: same },
  { pattern: /^encoder\.layers\.(\d+)\.ffn\.A\.(fc1|fc2)\.weight$/, target: (m) => `blocks.${m[1]}.ffn.${m[2]}.weight`, transform: linearT },
  { pattern: /^encoder\.layers\.(\d+)\.ffn\.A\.(fc1|fc2)\.bias$/, target: (m) => `blocks.${m[1]}.ffn.${m[2]}.bias`, transform: same },
  { pattern: /^encoder\.layers\.(\d+)\.ffn\.A\.ffn_layernorm\.(weight|bias)$/, target: (m) => `blocks.${m[1]}.ffn.ffn_layernorm.${m[2]}`, transform: same },
  { pattern: /^encoder\.layer_norm\.A\.(weight|bias)$/, target: (m) => `norm.${m[1]}`, transform: same },
];

export interface ConvertedBeit3 {
  /** densekit encoder names → tensors (densekit layouts). */
  tensors: Map<string, HostTensor>;
  /** Official keys not taken (text experts, heads, …). */
  dropped: string[];
  /** Encoder depth and width found in the checkpoint. */
  depth: number;
  embedDim: number;
}

/** Convert an official BEiT-3 state dict to densekit encoder names. */
export function convertBeit3(state: Map<string, HostTensor>): ConvertedBeit3 {
  const tensors = new Map<string, HostTensor>();
  const dropped: string[] = [];
  let depth = 0;
  for (const [key, t] of state) {
    const k = key.startsWith('beit3.') ? key.slice(6) : key;
    let taken = false;
    for (const rule of RULES) {
      const m = rule.pattern.exec(k);
      if (!m) continue;
      tensors.set(rule.target(m), rule.transform(t));
      const layer = /^encoder\.layers\.(\d+)\./.exec(k);
      if (layer) depth = Math.max(depth, Number(layer[1]) + 1);
      taken = true;
      break;
    }
    if (!taken) dropped.push(key);
  }
  const pe = tensors.get('patch_embed.proj.weight');
  if (!pe) throw new Error('not a BEiT-3 checkpoint: no vision_embed.proj.weight (keys look like: ' + [...state.keys()].slice(0, 5).join(', ') + ')');
  return { tensors, dropped, depth, embedDim: pe.shape[3]! };
}

/** Summarise dropped keys by family for a one-screen report. */
export function summarizeDropped(dropped: string[]): string[] {
  const groups = new Map<string, number>();
  for (const k of dropped) {
    const family = k
      .replace(/^beit3\./, '')
      .replace(/layers\.\d+\./, 'layers.*.')
      .replace(/\.(weight|bias)$/, '');
    groups.set(family, (groups.get(family) ?? 0) + 1);
  }
  return [...groups.entries()].map(([f, n]) => (n > 1 ? `${f} (x${n})` : f));
}
