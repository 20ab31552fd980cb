import { configSchema, type DensekitConfig, type DetectorConfig } from '../../src/config/schema.js';
import { Rng } from '../../src/engine/random.js';
import { synthShapesImage } from '../../src/data/synthetic-shapes.js';
import type { GtInstances } from '../../src/structures/instances.js';
import type { HostImage } from '../../src/io/rgb-image.js';

/** A detector small enough to train in seconds on 2 cores. */
export function tinyDetectorConfig(cascade = false): DensekitConfig & { model: DetectorConfig } {
  const cfg = configSchema.parse({
    model: {
      backbone: { size: 'tiny', window_size: 4, global_blocks: [1, 3], drop_path_rate: 0, pretrain_img_size: 64 },
      pyramid: { out_channels: 32 },
      rpn: { anchor_sizes: [8, 16, 32, 64, 128], batch_size_per_image: 64, pre_nms_topk_train: 200, post_nms_topk_train: 50, pre_nms_topk_test: 200, post_nms_topk_test: 50 },
      roi_heads: { num_classes: 4, batch_size_per_image: 32, conv_dim: 32, fc_dim: 64, num_convs: 2, mask_num_convs: 2, cascade: cascade ? {} : null },
      test: { detections_per_image: 20 },
    },
    input: { train_size: 128, test_size: 128, square_pad: 128 },
  });
  if (cfg.model.arch !== 'rcnn') throw new Error('expected a detector config');
  return cfg as DensekitConfig & { model: DetectorConfig };
}

/** A fixed batch of synthetic shape images with their ground truth. */
export function synthBatch(n: number, size = 128, seed = 1): { images: HostImage[]; gt: GtInstances[] } {
  const rng = new Rng(seed);
  const images: HostImage[] = [];
  const gt: GtInstances[] = [];
  for (let i = 0; i < n; i++) {
    const s = synthShapesImage(rng, { width: size, height: size, minObjects: 2, maxObjects: 4, minSize: 0.2, maxSize: 0.45 });
    images.push({ data: s.rgb, height: size, width: size });
    gt.push({
      boxes: Float32Array.from(s.objects.flatMap((o) => [o.bbox[0], o.bbox[1], o.bbox[0] + o.bbox[2], o.bbox[1] + o.bbox[3]])),
      classes: Int32Array.from(s.objects.map((o) => o.classIndex)),
      masks: s.objects.map((o) => ({ kind: 'rle' as const, rle: o.rle })),
    });
  }
  return { images, gt };
}
