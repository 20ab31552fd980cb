import { Coco } from '@densekit/eval';
import type { DetectorRunConfig } from '../../config/schema.js';
import { loadDetector, type GeneralizedRCNN } from '../../detection/rcnn.js';
import { graphCacheDir, type InferenceEngine } from '../engine.js';
import { OnnxDetectorEngine, tfjsDetectorEngine, type DetectorEngine } from './onnx-engine.js';
import { existsSync, statSync } from 'node:fs';
import { DensekitError } from '../../util/errors.js';
import { imageIds } from '../inputs.js';
import type { Task } from '../task.js';
import { detectionDataset, trainDetector } from './train.js';
import { checkEvaluationImages, detectionEvaluation, evaluateDetector } from './evaluate.js';
import { predictFile } from './predict.js';
import { countResults, finishCocoList, finishRecords, isCompleteFile, planPrediction, runPrediction, skippedOf } from '../predict-run.js';
import { shardResultsPath } from '../shards.js';
import { exportDetectorOnnx } from './export.js';

/** The engine for a detector loaded from `weights`: its traced graphs are cached per weights and config. */
function detectorEngine(model: GeneralizedRCNN, weights: string, config: DetectorRunConfig, engine: InferenceEngine | undefined): DetectorEngine {
  if (engine?.name !== 'onnx') return tfjsDetectorEngine(model);
  return new OnnxDetectorEngine(model, graphCacheDir(weights, { model: config.model, input: config.input }), { device: engine.device, threads: engine.threads }, { config, weights });
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
      // Every image is there before the weights are read.
      checkEvaluationImages(dataset);
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
      const K = config.model.roi_heads.num_classes;
      const categoryIds = gt ? [...gt.cats.keys()].sort((a, b) => a - b) : Array.from({ length: K }, (_, i) => i + 1);
      if (categoryIds.length !== K) throw new DensekitError(`the GT file has ${categoryIds.length} categories, the model ${K}`, { file: opts.gt });
      const scoreThreshold = opts.scoreThreshold ?? 0;
      const plan = planPrediction({
        task: 'detection',
        weights,
        configFile: opts.configFile,
        config: { model: config.model, input: config.input },
        files,
        ids: (sorted) => imageIds(sorted, gt),
        options: { scoreThreshold, categoryIds },
        shard: opts.shard,
        engine: opts.engine?.name,
      });
      // Unsharded: a COCO results list at `out`. A shard: its predictions file (records with the run's header).
      const final = opts.shard ? shardResultsPath(out, opts.shard) : out;
      // Checked before any work: a folder here would only fail at the very end.
      if (existsSync(final) && statSync(final).isDirectory()) throw new DensekitError('is a folder; a detector writes its results to a JSON file (give a file name)', { file: final });
      const logPath = `${final}.log`;
      const where = opts.shard ? ` (shard ${opts.shard.index}/${opts.shard.count})` : '';
      if (opts.resume && opts.shard && !existsSync(logPath) && isCompleteFile(final, plan)) {
        opts.onStart?.(plan.mine.length, plan.mine.length);
        return { summary: `already complete: ${final}${where}`, skipped: [], files: [final], resumed: plan.mine.length, ran: 0 };
      }
      const run = await runPrediction(plan, logPath, {
        resume: opts.resume ?? false,
        onStart: opts.onStart,
        onImage: opts.onImage,
        open: async () => {
          const model = loadDetector(config.model, config.input, weights);
          const engine = detectorEngine(model, weights, config, opts.engine);
          return {
            async predict(img) {
              const r = await predictFile(model, img, config.input, { categoryIds, scoreThreshold, engine });
              return 'failed' in r ? { skipped: r.failed } : { image_id: img.imageId, results: r.results };
            },
            async dispose() {
              await engine.dispose();
              model.dispose();
            },
          };
        },
      });
      const skipped = skippedOf(plan, run.log);
      let count: number;
      if (opts.shard) {
        count = countResults(plan, run.log);
        finishRecords(plan, run.log, final, count);
      } else count = finishCocoList(plan, run.log, final);
      const images = plan.mine.length - skipped.length;
      const resumed = run.resumed > 0 ? ` (${run.resumed} from the log of an earlier run)` : '';
      return { summary: `${count} detections on ${images} images${resumed} → ${final}${where}`, skipped, files: [final], resumed: run.resumed, ran: run.ran, notes: run.notes };
    },
    exportOnnx: async (weights, outDir, size) => exportDetectorOnnx(config, weights, outDir, size),
  };
}
