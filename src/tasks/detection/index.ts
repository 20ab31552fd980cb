import { Coco } from '@densekit/eval';
import type { DetectorRunConfig } from '../../config/schema.js';
import { loadDetector, type GeneralizedRCNN } from '../../detection/rcnn.js';
import { graphCacheDir, type InferenceEngine } from '../engine.js';
import { OnnxDetectorEngine, tfjsDetectorEngine, type DetectorEngine } from './onnx-engine.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import { imageIds } from '../inputs.js';
import type { Task } from '../task.js';
import { detectionDataset, trainDetector } from './train.js';
import { detectionEvaluation, evaluateDetector } from './evaluate.js';
import { predictFiles } from './predict.js';
import { exportDetectorOnnx } from './export.js';

/** The engine for a detector loaded from `weights`: its traced graphs are cached per weights and config. */
function detectorEngine(model: GeneralizedRCNN, weights: string, config: DetectorRunConfig, engine: InferenceEngine | undefined): DetectorEngine {
  if (engine?.name !== 'onnx') return tfjsDetectorEngine(model);
  return new OnnxDetectorEngine(model, graphCacheDir(weights, { model: config.model, input: config.input }), { device: engine.device, threads: engine.threads });
}

/** Detection (Mask R-CNN, Cascade Mask R-CNN) as a task. */
export function detectionTask(config: DetectorRunConfig): Task {
  return {
    kind: 'detection',
    config,
    onnx: true,
    train: (opts) => trainDetector(config, opts),
    async evaluate(weights, split, opts = {}) {
      const dataset = detectionDataset(config, split);
      if (!dataset) throw new DensekitError(`the config has no data.${split}`, { key: `data.${split}` });
      const model = loadDetector(config.model, config.input, weights);
      const engine = detectorEngine(model, weights, config, opts.engine);
      try {
        return detectionEvaluation(await evaluateDetector(model, dataset, config.input, opts.onImage, engine));
      } finally {
        await engine.dispose();
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
      const engine = detectorEngine(model, weights, config, opts.engine);
      try {
        const { results, failed } = await predictFiles(model, inputs, config.input, { categoryIds, scoreThreshold: opts.scoreThreshold, onImage: opts.onImage, engine });
        writeFileAtomic(out, JSON.stringify(results));
        return { summary: `${results.length} detections on ${inputs.length - failed.length} images → ${out}`, skipped: failed };
      } finally {
        await engine.dispose();
        model.dispose();
      }
    },
    exportOnnx: async (weights, outDir, size) => exportDetectorOnnx(config, weights, outDir, size),
  };
}
