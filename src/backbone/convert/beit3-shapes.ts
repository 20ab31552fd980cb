import type { HostTensor } from '../../io/host-tensor.js';
import { DensekitError } from '../../util/errors.js';

/**
 * The shapes an official BEiT-3 checkpoint's vision tensors must have, in
 * the checkpoint's own layout (torch: Linear [out, in], conv OIHW). A
 * checkpoint describes itself: the patch embedding gives the width and the
 * patch size, a block's first FFN layer the FFN width; every other tensor
 * must agree with them, and every block must be whole. Checked before
 * anything is converted, so a bad file is refused naming the tensor (its
 * key as the file spells it) and the expected and found shapes.
 */

/** The widths the checkpoint's tensors are checked against. */
export interface Beit3Widths {
  embedDim: number;
  patchSize: number;
  /** Undefined when no block's `fc1` has a usable shape (its own check then says so). */
  ffnDim?: number;
}

/** A dimension the checkpoint fixes, or undefined where any size is accepted. */
type Dim = number | undefined;

/** The tensors of block i, by official key (without `beit3.`), and the shape each must have. */
export function blockShapes(i: number, w: Beit3Widths): Map<string, Dim[]> {
  const D = w.embedDim;
  const F = w.ffnDim;
  const L = `encoder.layers.${i}`;
  const shapes = new Map<string, Dim[]>();
  for (const p of ['q', 'k', 'v', 'out']) {
    shapes.set(`${L}.self_attn.${p}_proj.A.weight`, [D, D]);
    shapes.set(`${L}.self_attn.${p}_proj.A.bias`, [D]);
  }
  for (const n of [`${L}.self_attn_layer_norm.A`, `${L}.self_attn.inner_attn_ln.A`, `${L}.final_layer_norm.A`]) {
    shapes.set(`${n}.weight`, [D]);
    shapes.set(`${n}.bias`, [D]);
  }
  shapes.set(`${L}.ffn.A.fc1.weight`, [F, D]);
  shapes.set(`${L}.ffn.A.fc1.bias`, [F]);
  shapes.set(`${L}.ffn.A.fc2.weight`, [D, F]);
  shapes.set(`${L}.ffn.A.fc2.bias`, [D]);
  shapes.set(`${L}.ffn.A.ffn_layernorm.weight`, [F]);
  shapes.set(`${L}.ffn.A.ffn_layernorm.bias`, [F]);
  return shapes;
}

/** The shape an official key (without `beit3.`) of the vision path must have; undefined for keys not on it. */
export function expectedShape(key: string, w: Beit3Widths): Dim[] | undefined {
  const D = w.embedDim;
  const P = w.patchSize;
  switch (key) {
    case 'vision_embed.proj.weight':
      return [D, 3, P, P];
    case 'vision_embed.proj.bias':
    case 'encoder.layer_norm.A.weight':
    case 'encoder.layer_norm.A.bias':
      return [D];
    case 'vision_embed.cls_token':
      return [1, 1, D];
    case 'encoder.embed_positions.A.weight':
      return [undefined, D];
  }
  const layer = /^encoder\.layers\.(\d+)\./.exec(key);
  return layer ? blockShapes(Number(layer[1]), w).get(key) : undefined;
}

const show = (shape: readonly Dim[]) => `[${shape.map((d) => d ?? '*').join(', ')}]`;

function fits(shape: readonly number[], expected: readonly Dim[]): boolean {
  return shape.length === expected.length && expected.every((d, i) => d === undefined || d === shape[i]);
}

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);

/**
 * The widths of the checkpoint, from its patch embedding (a conv kernel
 * [width, 3, patch, patch]) and the lowest block's `fc1` ([FFN width, width]).
 * `state` is keyed by official names without `beit3.`; `keyOf` gives a
 * name as the file spells it (for messages).
 */
export function beit3Widths(state: ReadonlyMap<string, HostTensor>, keyOf: (k: string) => string, source: string): Beit3Widths {
  const pe = state.get('vision_embed.proj.weight');
  if (!pe) {
    const some = [...state.keys()].slice(0, 5).map(keyOf).join(', ');
    throw new DensekitError(`not a BEiT-3 checkpoint: no vision_embed.proj.weight (its keys look like: ${some})`, { file: source });
  }
  const [D, C, P, P2] = pe.shape;
  if (pe.shape.length !== 4 || C !== 3 || P !== P2 || !(D! > 0) || !(P! > 0)) {
    throw new DensekitError(`shape ${show(pe.shape)}, expected a patch-embedding conv kernel [width, 3, patch, patch]`, { file: source, key: keyOf('vision_embed.proj.weight') });
  }
  const layers = [...state.keys()].map((k) => /^encoder\.layers\.(\d+)\.ffn\.A\.fc1\.weight$/.exec(k)).filter((m): m is RegExpExecArray => m !== null);
  layers.sort((a, b) => Number(a[1]) - Number(b[1]));
  const fc1 = layers.length > 0 ? state.get(layers[0]![0]) : undefined;
  const ffnDim = fc1 && fc1.shape.length === 2 && fc1.shape[1] === D && fc1.shape[0]! > 0 ? fc1.shape[0] : undefined;
  return { embedDim: D!, patchSize: P!, ffnDim };
}

/**
 * Check the vision tensors of an official checkpoint: each has the shape
 * (and a floating-point type) the widths call for, the position table has
 * 3 + a square number of rows (two unused fairseq rows, the cls row, the
 * pretraining grid), and blocks 0..depth-1 are each whole. Returns the
 * depth. A checkpoint without blocks is refused: it would convert to an
 * encoder of depth 0.
 */
export function checkBeit3Shapes(state: ReadonlyMap<string, HostTensor>, keyOf: (k: string) => string, source: string): { widths: Beit3Widths; depth: number } {
  const widths = beit3Widths(state, keyOf, source);
  const layers = new Set<number>();
  for (const [k, t] of state) {
    const expected = expectedShape(k, widths);
    if (!expected) continue;
    const where = { file: source, key: keyOf(k) };
    if (!FLOAT_DTYPES.has(t.dtype)) throw new DensekitError(`dtype ${t.dtype}, expected a floating-point tensor`, where);
    if (!fits(t.shape, expected)) {
      const ffn = widths.ffnDim !== undefined ? `, FFN width ${widths.ffnDim}` : '';
      throw new DensekitError(`shape ${show(t.shape)}, expected ${show(expected)} (the checkpoint's width ${widths.embedDim}${ffn}, patch ${widths.patchSize})`, where);
    }
    if (k === 'encoder.embed_positions.A.weight') {
      const grid = Math.round(Math.sqrt(t.shape[0]! - 3));
      if (t.shape[0]! < 4 || grid * grid !== t.shape[0]! - 3) {
        throw new DensekitError(`shape ${show(t.shape)}: a position table has 3 + a square number of rows (2 unused, the cls row, the pretraining grid)`, where);
      }
    }
    const layer = /^encoder\.layers\.(\d+)\./.exec(k);
    if (layer) layers.add(Number(layer[1]));
  }
  const depth = layers.size > 0 ? Math.max(...layers) + 1 : 0;
  if (depth === 0) {
    throw new DensekitError('holds no transformer blocks (no encoder.layers.N tensors of the vision expert "A"), only the embeddings: it would make an encoder of depth 0; give a full BEiT-3 checkpoint', { file: source });
  }
  for (let i = 0; i < depth; i++) {
    const missing = [...blockShapes(i, widths).keys()].filter((k) => !state.has(k));
    if (missing.length > 0) {
      const more = missing.length > 1 ? ` and ${missing.length - 1} more of block ${i}` : '';
      throw new DensekitError(`block ${i} of ${depth} is incomplete: no ${keyOf(missing[0]!)}${more} (a truncated or partial checkpoint?)`, { file: source });
    }
  }
  return { widths, depth };
}
