import { Rng, mixSeed } from '../engine/random.js';
import type { InputConfig } from '../config/schema.js';
import type { HostImage } from '../io/rgb-image.js';
import type { GtInstances } from '../structures/instances.js';
import type { DetectionDataset } from './coco-dataset.js';
import { loadRgb } from '../io/rgb-image.js';
import { applyToImage, applyToObjects, sampleLsj } from './transforms.js';

export interface TrainBatch {
  images: HostImage[];
  gt: GtInstances[];
  imageIds: number[];
}

/**
 * An endless, deterministic stream of augmented training batches. The
 * order (a fresh permutation each epoch) and every sample's augmentation
 * are functions of (seed, sample position) alone, so resuming at batch k
 * reproduces exactly what an uninterrupted run would have seen, however far
 * the prefetch had run ahead. Up to `prefetch` batches are decoded ahead.
 */
export class TrainLoader {
  private readonly queue = new Map<number, Promise<TrainBatch>>();
  private nextBatch: number;
  private readonly perms = new Map<number, Int32Array>();

  constructor(
    readonly dataset: DetectionDataset,
    readonly input: InputConfig,
    readonly batchSize: number,
    readonly seed: number,
    startBatch = 0,
    readonly prefetch = 2,
  ) {
    if (dataset.records.length === 0) throw new Error(`dataset ${dataset.name} has no images to train on`);
    this.nextBatch = startBatch;
  }

  /** Index of the next batch `next()` returns. */
  get position(): number {
    return this.nextBatch;
  }

  private permutation(epoch: number): Int32Array {
    let p = this.perms.get(epoch);
    if (!p) {
      const idx = Array.from({ length: this.dataset.records.length }, (_, i) => i);
      p = Int32Array.from(new Rng(mixSeed(this.seed, epoch)).shuffle(idx));
      this.perms.set(epoch, p);
      if (this.perms.size > 3) this.perms.delete(Math.min(...this.perms.keys()));
    }
    return p;
  }

  private async sample(k: number): Promise<{ image: HostImage; gt: GtInstances; imageId: number }> {
    const n = this.dataset.records.length;
    const rec = this.dataset.records[this.permutation(Math.floor(k / n))[k % n]!]!;
    const rng = new Rng(mixSeed(this.seed ^ 0x5bd1e995, k));
    const img = await loadRgb(rec.file);
    const sx = img.width / rec.width;
    const sy = img.height / rec.height;
    const objects = sx === 1 && sy === 1 ? rec.objects : rec.objects.map((o) => ({ ...o, box: [o.box[0] * sx, o.box[1] * sy, o.box[2] * sx, o.box[3] * sy] as [number, number, number, number] }));
    const g = sampleLsj(img.height, img.width, this.input.train_size, this.input.min_scale, this.input.max_scale, this.input.flip_prob, rng);
    const [image, gt] = [await applyToImage(img, g), applyToObjects(objects, img.height, img.width, g)];
    return { image, gt, imageId: rec.imageId };
  }

  private load(b: number): Promise<TrainBatch> {
    const ks = Array.from({ length: this.batchSize }, (_, i) => b * this.batchSize + i);
    return Promise.all(ks.map((k) => this.sample(k))).then((s) => ({ images: s.map((x) => x.image), gt: s.map((x) => x.gt), imageIds: s.map((x) => x.imageId) }));
  }

  /** The next batch; keeps up to `prefetch` more in flight. */
  async next(): Promise<TrainBatch> {
    const b = this.nextBatch++;
    for (let i = b; i <= b + this.prefetch; i++) {
      if (this.queue.has(i)) continue;
      const p = this.load(i);
      // A prefetched batch that fails is reported when it is awaited, not as an unhandled rejection.
      p.catch(() => undefined);
      this.queue.set(i, p);
    }
    const batch = await this.queue.get(b)!;
    this.queue.delete(b);
    return batch;
  }
}
