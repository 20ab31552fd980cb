import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { switchBackend, type BackendName } from '../../src/engine/backend.js';
import { trainDetector } from '../../src/tasks/detection/train.js';
import { loadConfig } from '../../src/config/index.js';
import { isSegmenterConfig, type SegmenterRunConfig } from '../../src/config/schema.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { semanticTargets } from '../../src/tasks/semantic/train.js';
import { buildParamSpecs } from '../../src/train/param-groups.js';
import { AdamW, clipGradNorm } from '../../src/train/adamw.js';
import { lossAndGradients } from '../../src/train/step.js';
import { Rng } from '../../src/engine/random.js';
import { synthShapesImage } from '../../src/data/synthetic-shapes.js';
import { rleDecode } from '@densekit/eval';
import { synthDataset, tinyRunConfig } from '../helpers/synth-data.js';
import { webgpuAvailability } from './adapter.js';

const gpu = webgpuAvailability('webgpu/training.test');

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

describe.skipIf(!gpu.ok)(`training on webgpu (${gpu.adapter})`, () => {
  it('the tiny detector: 3 iterations give wasm\'s losses (1e-3), and 1 + resume + 2 gives the same losses bit for bit', async () => {
    const data = await synthDataset({ images: 4, val: 2 });
    const cfg = () => tinyRunConfig(data, { train: { ...tinyRunConfig(data).train, max_iter: 3 } });
    const quiet = { log: () => {} };
    await switchBackend('wasm');
    const wasm = await trainDetector(cfg(), { outDir: tmp('dk-wg-wasm-'), ...quiet });
    await switchBackend('webgpu');
    const full = await trainDetector(cfg(), { outDir: tmp('dk-wg-full-'), ...quiet });
    full.totals.forEach((v, i) => expect(Math.abs(v - wasm.totals[i]!), `iteration ${i + 1}: webgpu ${v}, wasm ${wasm.totals[i]}`).toBeLessThan(1e-3));
    for (const [k, v] of Object.entries(wasm.lastLosses)) expect(Math.abs(full.lastLosses[k]! - v), k).toBeLessThan(1e-3);

    const dir = tmp('dk-wg-resume-');
    const first = await trainDetector(cfg(), { outDir: dir, stopAfter: 1, ...quiet });
    const second = await trainDetector(cfg(), { outDir: dir, resume: true, ...quiet });
    expect([...first.totals, ...second.totals]).toEqual(full.totals);
  });

  it('the tiny segmenter (ViT-Adapter + Mask2Former): 2 AdamW steps give wasm\'s losses and gradient norms (1e-3)', async () => {
    const config = fileURLToPath(new URL('../../configs/demo/mask2former_adapter_tiny_synth.yaml', import.meta.url));
    const { stages: _s, ...run } = loadConfig(config, ['model.head.train_num_points=256', 'model.head.dec_layers=2']).config;
    if (!isSegmenterConfig(run)) throw new Error('expected a segmenter config');
    const cfg: SegmenterRunConfig = run;
    const size = 64;
    const rng = new Rng(4);
    const pixels: number[] = [];
    const labelMaps = [0, 1].map(() => {
      const s = synthShapesImage(rng, { width: size, height: size, minObjects: 2, maxObjects: 3, minSize: 0.3, maxSize: 0.5, colors: 'class' });
      pixels.push(...Array.from(s.rgb, (v) => (v - 120) / 60));
      const labels = new Uint8Array(size * size);
      for (const o of s.objects) {
        const col = rleDecode(o.rle);
        for (let x = 0; x < size; x++) for (let y = 0; y < size; y++) if (col[x * size + y]) labels[y * size + x] = o.classIndex + 1;
      }
      return labels;
    });
    const result: Record<string, { totals: number[]; norms: number[]; terms: Record<string, number> }> = {};
    for (const be of ['wasm', 'webgpu'] as BackendName[]) {
      await switchBackend(be);
      const model = new Mask2Former(cfg.model, cfg.input, 1).train();
      const specs = buildParamSpecs(model, cfg.train.optimizer);
      const opt = new AdamW(specs, { betas: [0.9, 0.999], eps: 1e-8 });
      const images = tf.tensor4d(pixels, [2, size, size, 3]);
      const targets = labelMaps.map((l) => semanticTargets(l, size, size, size, size));
      const out = { totals: [] as number[], norms: [] as number[], terms: {} as Record<string, number> };
      for (let i = 0; i < 2; i++) {
        const r = lossAndGradients(() => model.losses(images, targets), specs);
        out.totals.push(r.total);
        out.terms = { ...r.losses };
        out.norms.push(clipGradNorm(r.grads, 1e9));
        opt.apply(r.grads, 5e-4);
        for (const g of r.grads.values()) g.dispose();
      }
      result[be] = out;
      opt.dispose();
      model.dispose();
    }
    const [w, g] = [result.wasm!, result.webgpu!];
    w.totals.forEach((v, i) => expect(Math.abs(g.totals[i]! - v), `step ${i + 1} total`).toBeLessThan(1e-3));
    w.norms.forEach((v, i) => expect(Math.abs(g.norms[i]! - v) / Math.max(1, v), `step ${i + 1} gradient norm`).toBeLessThan(1e-3));
    for (const [k, v] of Object.entries(w.terms)) expect(Math.abs(g.terms[k]! - v), k).toBeLessThan(1e-3);
  });
});
