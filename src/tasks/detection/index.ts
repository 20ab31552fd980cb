import { Coco } from '@densekit/eval';
import type { DetectorRunConfig } from '../../config/schema.js';
import { loadDetector } from '../../detection/rcnn.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import { imageIds } from '../inputs.js';
import type { Task } from '../task.js';
import { detectionDataset, trainDetector } from './train.js';
import { detectionEvaluation, evaluateDetector } from './evaluate.js';
import { predictFiles } from './predict.js';

/** Detection (Mask R-CNN, Cascade Mask R-CNN) as a task. */
export function detectionTask(config: DetectorRunConfig): Task {
  return {
    kind: 'detection',
    config,
    train: (opts) => trainDetector(config, opts),
    async evaluate(weights, split, onImage) {
      const dataset = detectionDataset(config, split);
      if (!dataset) throw new DensekitError(`the config has no data.${split}`, { key: `data.${split}` });
      const model = loadDetector(config.model, config.input, weights);
      try {
        return detectionEvaluation(await evaluateDetector(model, dataset, config.input, onImage));
      } finally {
        model.dispose();
      }
    },
    async predict(weights, files, out, opts = {}) {
      const gt = opts.gt ? Coco.fromFile(opts.gt) : undefined;
      const inputs = imageIds(files, gt);
      const K = config.model.roi_heads.num_classes;
      const categoryIds = gt ? [...gt.cats.keys()].sort((a, b) => a - b) : Array.from({ length: K }, (_, i) => i + 1);
      if (categoryIds.length !== K) throw new DensekitError(`the GT file has ${categoryIds.length} categories, the model ${K}`, { file: opts.gt });
      const model = loadDetector(config.model, config.input, weights);
      try {
        const { results, failed } = await predictFiles(model, inputs, config.input, { categoryIds, scoreThreshold: opts.scoreThreshold, onImage: opts.onImage });
        writeFileAtomic(out, JSON.stringify(results));
        return { summary: `${results.length} detections on ${inputs.length - failed.length} images → ${out}`, skipped: failed };
      } finally {
        model.dispose();
      }
    },
  };
}
