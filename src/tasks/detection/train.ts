import { existsSync } from 'node:fs';
import type { DetectorRunConfig, RunConfig } from '../../config/schema.js';
import { GeneralizedRCNN } from '../../detection/rcnn.js';
import { loadCocoDataset, type DetectionDataset } from '../../data/coco-dataset.js';
import { TrainLoader } from '../../data/loader.js';
import { DensekitError } from '../../util/errors.js';
import { runTraining, type TrainOptions, type TrainResult } from '../../train/trainer.js';
import type { TrainTask } from '../../train/task.js';
import { detectionEvaluation, evaluateDetector } from './evaluate.js';

/**
 * The detection dataset of a config's split (undefined when the config has
 * none). Images are read only when a sample needs them, so a wrong image
 * folder is caught here, by the split's first image, before anything runs.
 */
export function detectionDataset(cfg: RunConfig, split: 'train' | 'val'): DetectionDataset | undefined {
  const d = cfg.data[split];
  if (!d) return undefined;
  if (d.format !== 'coco') throw new DensekitError('a detector needs COCO-format data (format: coco)', { key: `data.${split}.format` });
  const set = loadCocoDataset(d.annotations, d.images, { filterEmpty: split === 'train' && d.filter_empty, name: `${split}:${d.annotations}` });
  const first = set.records[0];
  if (first && !existsSync(first.file)) {
    throw new DensekitError(`${first.file}, the first image listed in ${d.annotations}, is not there: is ${d.images} the folder of these images?`, { key: `data.${split}.images` });
  }
  return set;
}

/**
 * Train a detector from a (stage) config. Deterministic given the seed;
 * `resume` continues exactly where the last checkpoint left off.
 */
export function trainDetector(cfg: DetectorRunConfig, opts: TrainOptions): Promise<TrainResult> {
  return runTraining(cfg, opts, () => detectorTask(cfg, opts.log ?? defaultLog));
}

/** The data, model and evaluation of a detector's training: everything that refuses bad input. */
export function detectorTask(cfg: DetectorRunConfig, log: (line: string) => void): TrainTask {
  const train = detectionDataset(cfg, 'train');
  if (!train) throw new DensekitError('no training data: set data.train.images and data.train.annotations', { key: 'data.train' });
  if (train.categoryIds.length !== cfg.model.roi_heads.num_classes) {
    throw new DensekitError(`the training set has ${train.categoryIds.length} categories but model.roi_heads.num_classes is ${cfg.model.roi_heads.num_classes}`, {
      key: 'model.roi_heads.num_classes',
    });
  }
  const val = detectionDataset(cfg, 'val');
  const model = new GeneralizedRCNN(cfg.model, cfg.input, cfg.train.seed).train();
  if (model.pretrained) log(`backbone: ${model.pretrained.loaded.length} tensors from ${cfg.model.backbone.pretrained}; new: ${model.pretrained.initialised.length}; unused: ${model.pretrained.unused.join(', ') || 'none'}`);
  const task: TrainTask = {
    model,
    batches(start) {
      const loader = new TrainLoader(train, cfg.input, cfg.train.ims_per_batch, cfg.train.seed, start, cfg.data.prefetch);
      return {
        get position() {
          return loader.position;
        },
        async next() {
          const batch = await loader.next();
          const list = model.preprocess(batch.images, 'train');
          return { losses: () => model.losses(list, batch.gt), dispose: () => list.tensor.dispose() };
        },
      };
    },
    evaluate: val ? async () => detectionEvaluation(await evaluateDetector(model, val, cfg.input)) : undefined,
  };
  return task;
}

function defaultLog(l: string): void {
  process.stderr.write(`${l}\n`);
}
