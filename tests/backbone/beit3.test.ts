import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { Beit3Encoder, type Beit3Options } from '../../src/backbone/beit3.js';
import { BEIT3_SIZES } from '../../src/backbone/sizes.js';
import { getRelPos } from '../../src/engine/ops/rel-pos.js';
import { readBeit3Weights, loadBeit3Weights } from '../../src/backbone/convert/load-beit3.js';
import { toTf } from '../../src/io/host-tensor.js';
import { fixture, get, maxAbsDiff, nchwToNhwc, torchRef, values } from '../helpers/fixtures.js';

const PTH = fixture('torch-ref', 'beit3_tiny.pth');

function plainOptions(): Beit3Options {
  return {
    ...BEIT3_SIZES.tiny,
    patchSize: 16,
    pretrainImgSize: 64,
    layernormEps: 1e-5,
    dropPathRate: 0,
    windowSize: 0,
    useRelPos: false,
    relPosGlobalGrid: 4,
    clsToken: true,
    finalNorm: true,
  };
}

function nhwcInput(ref: Map<string, ReturnType<typeof get>>, key = 'input'): tf.Tensor {
  const x = nchwToNhwc(get(ref, key));
  return tf.tensor(x.data, x.shape);
}

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('BEiT-3 tiny, loaded from the official-format .pth', () => {
  const { tensors, dropped } = readBeit3Weights(PTH);

  it('keeps only the vision expert and reports what it dropped', () => {
    expect(tensors.get('pos_embed')!.shape).toEqual([17, 64]);
    expect(tensors.get('patch_embed.proj.weight')!.shape).toEqual([16, 16, 3, 64]);
    expect(dropped.some((k) => k.includes('.B.'))).toBe(true);
    expect(dropped).toContain('beit3.text_embed.weight');
    expect(dropped).toContain('beit3.vision_embed.mask_token');
    expect([...tensors.keys()].some((k) => k.includes('.B.'))).toBe(false);
  });

  for (const [name, file] of [
    ['square 64x64', 'beit3_tiny_square.safetensors'],
    ['non-square 64x96 (bicubic position table)', 'beit3_tiny_64x96.safetensors'],
  ] as const) {
    it(`${name}: embedding, every layer and the final output equal torchscale`, () => {
      const enc = new Beit3Encoder(plainOptions()).eval();
      const report = loadBeit3Weights(enc, tensors);
      expect(report.initialised).toEqual([]);
      expect(report.unused).toEqual([]);
      const ref = torchRef(file);
      const out = enc.forwardTokens(nhwcInput(ref));
      expect(maxAbsDiff(out.embed.dataSync(), values(get(ref, 'embed_out')))).toBeLessThan(1e-4);
      out.hidden.forEach((h, i) => expect(maxAbsDiff(h.dataSync(), values(get(ref, `layer${i}_out`))), `layer ${i}`).toBeLessThan(1e-4));
      expect(maxAbsDiff(out.tokens.dataSync(), values(get(ref, 'final_out')))).toBeLessThan(1e-4);
      if (file.includes('64x96')) {
        const g = enc.gridPositions(4, 6).reshape([24, 64]);
        const interp = get(ref, 'pos_table_interp');
        expect(maxAbsDiff(g.dataSync(), values(interp).subarray(3 * 64))).toBeLessThan(1e-5);
      }
      enc.dispose();
    });
  }
});

describe('ViTDet mode (windows 3 on a 4x6 grid, global blocks 1 and 3, rel-pos)', () => {
  const ref = torchRef('vitdet_window.safetensors');
  const { tensors } = readBeit3Weights(PTH);

  function vitdet(): Beit3Encoder {
    const enc = new Beit3Encoder({ ...plainOptions(), windowSize: 3, globalBlocks: [1, 3], useRelPos: true, relPosGlobalGrid: 6, clsToken: false, finalNorm: false }).eval();
    const report = loadBeit3Weights(enc, tensors);
    expect(report.unused.sort()).toEqual(['cls_token', 'norm.bias', 'norm.weight']);
    expect(report.initialised.every((n) => n.includes('rel_pos'))).toBe(true);
    for (let i = 0; i < 4; i++) {
      for (const hw of ['h', 'w']) {
        const v = enc.stateDict().get(`blocks.${i}.attn.rel_pos_${hw}`)!;
        v.assign(toTf(get(ref, `rel_pos.${i}.rel_pos_${hw}`)));
      }
    }
    return enc;
  }

  it('get_rel_pos equals detectron2 (window 5 rows; global 11 → 7 resized, and 11 as is)', () => {
    const t = (k: string) => toTf(get(ref, k));
    expect(maxAbsDiff(getRelPos(3, 3, t('rel_pos.0.rel_pos_h')).dataSync(), values(get(ref, 'get_rel_pos_window_h_q3_k3_from5')))).toBeLessThan(1e-6);
    expect(maxAbsDiff(getRelPos(4, 4, t('rel_pos.1.rel_pos_h')).dataSync(), values(get(ref, 'get_rel_pos_global_h_q4_k4_from11')))).toBeLessThan(1e-6);
    expect(maxAbsDiff(getRelPos(6, 6, t('rel_pos.1.rel_pos_w')).dataSync(), values(get(ref, 'get_rel_pos_global_w_q6_k6_from11')))).toBeLessThan(1e-6);
  });

  it('patch embedding, positions, every block and the final map equal the reference', () => {
    const enc = vitdet();
    const out = enc.forward(nhwcInput(ref), { keepHidden: true });
    expect(maxAbsDiff(enc.patch_embed.forward(nhwcInput(ref)).dataSync(), values(get(ref, 'patch_embed_nhwc')))).toBeLessThan(1e-4);
    expect(maxAbsDiff(enc.gridPositions(4, 6).dataSync(), values(get(ref, 'abs_pos_interp_nhwc')))).toBeLessThan(1e-5);
    expect(maxAbsDiff(out.embed.dataSync(), values(get(ref, 'embed_out_nhwc')))).toBeLessThan(1e-4);
    out.hidden.forEach((h, i) => expect(maxAbsDiff(h.dataSync(), values(get(ref, `block${i}_out_nhwc`))), `block ${i}`).toBeLessThan(1e-4));
    expect(maxAbsDiff(out.map.dataSync(), nchwToNhwc(get(ref, 'final_feature_nchw')).data)).toBeLessThan(1e-4);
    enc.dispose();
  });

  it('repeated forwards do not leak tensors', () => {
    const enc = vitdet();
    const x = nhwcInput(ref);
    const run = () => tf.tidy(() => enc.forward(x).map.dataSync());
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  });

  it('layer-wise lr-decay ids: embeddings 0, block i → i+1, the rest depth+1', () => {
    expect(Beit3Encoder.layerId('pos_embed', 12)).toBe(0);
    expect(Beit3Encoder.layerId('patch_embed.proj.weight', 12)).toBe(0);
    expect(Beit3Encoder.layerId('blocks.0.attn.q_proj.weight', 12)).toBe(1);
    expect(Beit3Encoder.layerId('blocks.11.ffn.fc2.bias', 12)).toBe(12);
    expect(Beit3Encoder.layerId('norm.weight', 12)).toBe(13);
  });
});
