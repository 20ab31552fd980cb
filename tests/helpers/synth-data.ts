import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeShapesDataset } from '../../src/data/synthesize.js';
import { configSchema, isDetectorConfig, type DetectorRunConfig } from '../../src/config/schema.js';
import { tinyDetectorConfig } from './tiny-detector.js';

/** A small synthetic COCO dataset on disk (train + val), written once per call. */
export async function synthDataset(opts: { images?: number; val?: number; size?: number; classes?: string[]; seed?: number } = {}): Promise<{ dir: string; train: string; val: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'densekit-data-'));
  const r = await writeShapesDataset({ out: dir, trainImages: opts.images ?? 6, valImages: opts.val ?? 3, size: opts.size ?? 64, seed: opts.seed ?? 0, classes: opts.classes });
  return { dir, ...r };
}

/** A tiny training run config over a synthetic dataset. */
export function tinyRunConfig(data: { dir: string; train: string; val: string }, overrides: Record<string, unknown> = {}): DetectorRunConfig {
  const base = tinyDetectorConfig();
  const cfg = configSchema.parse({
    ...base,
    model: { ...base.model, backbone: { ...base.model.backbone, pretrain_img_size: 64 } },
    input: { ...base.input, train_size: 64, test_size: 64, square_pad: 64, min_scale: 0.8, max_scale: 1.2 },
    data: {
      train: { images: join(data.dir, 'train'), annotations: data.train },
      val: { images: join(data.dir, 'val'), annotations: data.val },
      prefetch: 1,
    },
    train: { max_iter: 4, ims_per_batch: 2, checkpoint_period: 100, log_period: 1, optimizer: { lr: 1e-3 }, schedule: { kind: 'cosine', warmup_iters: 1 }, seed: 3 },
    ...overrides,
  });
  const { stages: _s, ...run } = cfg;
  if (!isDetectorConfig(run)) throw new Error('expected a detector config');
  return run;
}
