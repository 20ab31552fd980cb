import type { HostTensor } from '../../io/host-tensor.js';
import { sliceRows, transposeHost } from '../../io/host-tensor.js';
import { checkBeit3Shapes } from './beit3-shapes.js';

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

/**
 * Convert an official BEiT-3 state dict to densekit encoder names. The
 * vision tensors are checked first (beit3-shapes.ts): a tensor of the wrong
 * rank or size, an incomplete block or a checkpoint without blocks is
 * refused naming `source` and the tensor.
 */
export function convertBeit3(state: Map<string, HostTensor>, source = 'checkpoint'): ConvertedBeit3 {
  const official = new Map<string, HostTensor>();
  const spelled = new Map<string, string>();
  for (const [key, t] of state) {
    const k = key.startsWith('beit3.') ? key.slice(6) : key;
    official.set(k, t);
    spelled.set(k, key);
  }
  // Keys the file lacks are named as it would spell them.
  const prefix = [...state.keys()].some((k) => k.startsWith('beit3.')) ? 'beit3.' : '';
  const { widths, depth } = checkBeit3Shapes(official, (k) => spelled.get(k) ?? `${prefix}${k}`, source);
  const tensors = new Map<string, HostTensor>();
  const dropped: string[] = [];
  for (const [k, t] of official) {
    const rule = RULES.find((r) => r.pattern.test(k));
    if (!rule) {
      dropped.push(spelled.get(k)!);
      continue;
    }
    tensors.set(rule.target(rule.pattern.exec(k)!), rule.transform(t));
  }
  return { tensors, dropped, depth, embedDim: widths.embedDim };
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
