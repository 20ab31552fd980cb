import { readLabelMap } from '../../io/image.js';
import { tf, type Tensor } from '../../engine/tf.js';
import { Rng, mixSeed } from '../../engine/random.js';
import type { RunConfig, SegmenterRunConfig } from '../../config/schema.js';
import { loadSemanticDataset, type SemanticDataset } from '../../data/semantic-dataset.js';
import { augmentSemantic, reduceLabels, type SemanticSample } from '../../data/semantic-transforms.js';
import { loadRgb } from '../../io/rgb-image.js';
import { DensekitError } from '../../util/errors.js';
import { checkClassCount } from '../../data/class-names.js';
import { runTraining, type TrainOptions, type TrainResult } from '../../train/trainer.js';
import type { TrainTask } from '../../train/task.js';
import { Mask2Former } from '../../segmentation/mask2former.js';
import { evaluateSemantic, semanticEvaluation, semanticReport } from './evaluate.js';
import type { SemanticTarget } from '../../segmentation/criterion.js';

/** Read an image and its (reduced) label map. */
export async function loadSemanticSample(image: string, annotation: string, reduce: boolean): Promise<SemanticSample> {
  const [img, lab] = await Promise.all([loadRgb(image), readLabelMap(annotation)]);
  if (img.width !== lab.width || img.height !== lab.height) throw new DensekitError(`annotation is ${lab.width}x${lab.height}, image ${img.width}x${img.height}`, { file: annotation });
  return { image: img, labels: reduce ? reduceLabels(lab.data) : lab.data };
}

/** One binary mask per class present (255 ignored), padded frame: Mask2Former's semantic targets. */
export function semanticTargets(labels: Uint8Array, h: number, w: number, padH: number, padW: number): SemanticTarget {
  const classes = [...new Set(labels)].filter((c) => c !== 255).sort((a, b) => a - b);
  const masks = new Float32Array(classes.length * padH * padW);
  classes.forEach((c, k) => {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (labels[y * w + x] === c) masks[(k * padH + y) * padW + x] = 1;
  });
  return { labels: Int32Array.from(classes), masks: tf.tensor3d(masks, [classes.length, padH, padW]) };
}

/** The semantic dataset of a config's split (undefined when the config has none). */
export function semanticDataset(cfg: RunConfig, split: 'train' | 'val'): SemanticDataset | undefined {
  const d = cfg.data[split];
  if (!d) return undefined;
  if (d.format !== 'ade20k') throw new DensekitError('a Mask2Former config needs data in the ade20k layout (format: ade20k)', { key: `data.${split}.format` });
  return loadSemanticDataset(d.images, d.annotations, d.reduce_zero_label);
}

/** Train Mask2Former (ViT-Adapter on BEiT-3) for semantic segmentation. */
export function trainSemantic(cfg: SegmenterRunConfig, opts: TrainOptions): Promise<TrainResult> {
  return runTraining(cfg, opts, () => semanticTask(cfg));
}

/** The data, model and evaluation of a segmenter's training: everything that refuses bad input. */
function semanticTask(cfg: SegmenterRunConfig): TrainTask {
  const train = semanticDataset(cfg, 'train');
  if (!train) throw new DensekitError('no training data: set data.train.images and data.train.annotations', { key: 'data.train' });
  const val = semanticDataset(cfg, 'val');
  // Class names (a data set's classes.json) that do not fit the model stop training before it starts.
  for (const ds of val ? [train, val] : [train]) checkClassCount(ds.classNames, cfg.model.head.num_classes, 'model.head.num_classes');
  const model = new Mask2Former(cfg.model, cfg.input, cfg.train.seed).train();
  const crop = cfg.input.train_size;
  const aug = { cropSize: crop, minScale: cfg.input.min_scale, maxScale: cfg.input.max_scale, flipProb: cfg.input.flip_prob, catMaxRatio: 0.75, photometric: true };
  const n = train.records.length;
  const perm = (epoch: number) => new Rng(mixSeed(cfg.train.seed, epoch)).shuffle(Array.from({ length: n }, (_, i) => i));
  const sample = async (k: number) => {
    const rec = train.records[perm(Math.floor(k / n))[k % n]!]!;
    const s = await loadSemanticSample(rec.image, rec.annotation, train.reduceZeroLabel);
    return augmentSemantic(s, aug, new Rng(mixSeed(cfg.train.seed ^ 0x5bd1e995, k)));
  };
  const task: TrainTask = {
    model,
    batches(start) {
      let b = start;
      const bs = cfg.train.ims_per_batch;
      return {
        get position() {
          return b;
        },
        async next() {
          const samples = await Promise.all(Array.from({ length: bs }, (_, i) => sample(b * bs + i)));
          b++;
          const list = model.preprocess(
            samples.map((s) => s.image),
            'train',
          );
          const targets = samples.map((s) => semanticTargets(s.labels, s.image.height, s.image.width, crop, crop));
          const release: Tensor[] = [list.tensor, ...targets.map((t) => t.masks)];
          return { losses: () => model.losses(list.tensor, targets), dispose: () => release.forEach((t) => t.dispose()) };
        },
      };
    },
    evaluate: val ? async () => semanticEvaluation(semanticReport(await evaluateSemantic(model, val, cfg), cfg.model.head.num_classes)) : undefined,
  };
  return task;
}
