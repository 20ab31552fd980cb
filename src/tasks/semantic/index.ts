import type { SegmenterRunConfig } from '../../config/schema.js';
import { loadSegmenter, type Mask2Former } from '../../segmentation/mask2former.js';
import { DensekitError } from '../../util/errors.js';
import type { Task } from '../task.js';
import { graphCacheDir, type InferenceEngine } from '../engine.js';
import { OnnxSegmenterEngine, tfjsSegmenterEngine, type SegmenterEngine } from './onnx-engine.js';
import { semanticDataset, trainSemantic } from './train.js';
import { evaluateSemantic, semanticEvaluation, semanticReport } from './evaluate.js';
import { labelMapName, predictLabelMapFile, type AreaTarget } from './predict.js';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SemanticEvaluator } from '@densekit/eval';
import { addAreas, type AreaRows } from '../merge.js';
import { finishRecords, isCompleteFile, planPrediction, runPrediction, skippedOf } from '../predict-run.js';
import { shardTag } from '../shards.js';
import { refuseOutputCollisions } from '../inputs.js';
import { exportSegmenterOnnx } from './export.js';

/** The engine for a segmenter loaded from `weights`: its traced graphs are cached per weights and config. */
function segmenterEngine(model: Mask2Former, weights: string, config: SegmenterRunConfig, engine: InferenceEngine | undefined): SegmenterEngine {
  if (engine?.name !== 'onnx') return tfjsSegmenterEngine(model);
  return new OnnxSegmenterEngine(model, graphCacheDir(weights, { model: config.model, input: config.input }), { device: engine.device, threads: engine.threads }, { config, weights });
}

/**
 * Area counting against annotations, as the config's validation data reads
 * them (`reduce_zero_label`), with mmseg's ignore index 255.
 */
function areaTarget(config: SegmenterRunConfig, gtDir: string): AreaTarget {
  if (!existsSync(gtDir)) throw new DensekitError('no such folder', { file: gtDir });
  return { gtDir, numClasses: config.model.head.num_classes, reduceZeroLabel: config.data.val?.reduce_zero_label ?? true, ignoreIndex: 255 };
}

/** Semantic segmentation (Mask2Former on ViT-Adapter) as a task. */
export function semanticTask(config: SegmenterRunConfig): Task {
  return {
    kind: 'semantic',
    config,
    onnx: true,
    train: (opts) => trainSemantic(config, opts),
    async evaluate(weights, split, opts = {}) {
      const dataset = semanticDataset(config, split);
      if (!dataset) throw new DensekitError(`the config has no data.${split}`, { key: `data.${split}` });
      const model = loadSegmenter(config.model, config.input, weights);
      const engine = segmenterEngine(model, weights, config, opts.engine);
      try {
        return semanticEvaluation(semanticReport(await evaluateSemantic(model, dataset, config, opts.onImage, engine), config.model.head.num_classes));
      } finally {
        await engine.dispose();
        model.dispose();
      }
    },
    async predict(weights, files, out, opts = {}) {
      // Each label map is named after its image without the folder: two images of one name would write one file.
      // (A file listed twice is one image, as in the plan.)
      refuseOutputCollisions([...new Set(files)], labelMapName, 'predict each folder into its own output folder');
      const areas = opts.gtDir ? areaTarget(config, opts.gtDir) : undefined;
      const plan = planPrediction({
        task: 'semantic',
        weights,
        configFile: opts.configFile,
        config: { model: config.model, input: config.input },
        files,
        // The annotations' folder names the data's classes for `densekit merge` (as for eval ade20k).
        options: { areas: areas ? { numClasses: areas.numClasses, reduceZeroLabel: areas.reduceZeroLabel, ignoreIndex: areas.ignoreIndex, gtDir: resolve(areas.gtDir) } : null },
        shard: opts.shard,
        engine: opts.engine?.name,
      });
      if (areas) {
        for (const img of plan.mine) {
          const gt = join(areas.gtDir, labelMapName(img.file));
          if (!existsSync(gt)) throw new DensekitError(`no annotation ${labelMapName(img.file)} for image ${img.file}`, { file: areas.gtDir });
        }
      }
      // The label maps go into `out`; beside them, while it runs, the log, and for a shard or with --gt-dir the records (with each image's areas).
      const final = join(out, opts.shard ? `predictions.${shardTag(opts.shard)}.jsonl` : 'predictions.jsonl');
      const logPath = `${final}.log`;
      const where = opts.shard ? ` (shard ${opts.shard.index}/${opts.shard.count})` : '';
      if (opts.resume && !existsSync(logPath) && isCompleteFile(final, plan)) {
        opts.onStart?.(plan.mine.length, plan.mine.length);
        return { summary: `already complete: ${final}${where}`, skipped: [], files: [final], resumed: plan.mine.length, ran: 0 };
      }
      mkdirSync(out, { recursive: true });
      const run = await runPrediction(plan, logPath, {
        resume: opts.resume ?? false,
        onStart: opts.onStart,
        onImage: opts.onImage,
        // A recorded image whose label map is gone is predicted again.
        stillDone: (img) => existsSync(join(out, labelMapName(img.file))),
        open: async () => {
          const model = loadSegmenter(config.model, config.input, weights);
          const engine = segmenterEngine(model, weights, config, opts.engine);
          return {
            async predict(img) {
              try {
                return await predictLabelMapFile(model, img.file, out, config.input, config.model.test, areas, engine);
              } catch (err) {
                if (!(err instanceof DensekitError)) throw err;
                return { skipped: err.message };
              }
            },
            async dispose() {
              await engine.dispose();
              model.dispose();
            },
          };
        },
      });
      const skipped = skippedOf(plan, run.log);
      const written = plan.mine.length - skipped.length;
      // The metrics of these images, from the records (the same sums `densekit merge` adds across shards).
      let metrics = '';
      if (areas) {
        const ev = new SemanticEvaluator({ numClasses: areas.numClasses, reduceZeroLabel: areas.reduceZeroLabel, ignoreIndex: areas.ignoreIndex });
        for (const img of plan.mine) {
          const rec = run.log.record(img.k);
          if (rec && rec.skipped === undefined) addAreas(ev, rec.areas as AreaRows);
        }
        const m = ev.metrics();
        metrics = `; mIoU ${(100 * m.mIoU).toFixed(2)}, aAcc ${(100 * m.aAcc).toFixed(2)} over ${ev.images} images${opts.shard ? ' of this shard' : ''}`;
      }
      // The records stay beside the label maps when they are needed later: a shard's (for merge), or areas.
      const keep = opts.shard !== undefined || areas !== undefined;
      if (keep) finishRecords(plan, run.log, final, written);
      else run.log.remove();
      const resumed = run.resumed > 0 ? ` (${run.resumed} from the log of an earlier run)` : '';
      return { summary: `${written} label maps${resumed} → ${out}${where}${metrics}`, skipped, files: keep ? [final] : [], resumed: run.resumed, ran: run.ran, notes: run.notes };
    },
    exportOnnx: async (weights, outDir, size) => exportSegmenterOnnx(config, weights, outDir, size),
  };
}
