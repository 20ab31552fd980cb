import type { SegmenterRunConfig } from '../../config/schema.js';
import { loadSegmenter } from '../../segmentation/mask2former.js';
import { DensekitError } from '../../util/errors.js';
import type { Task } from '../task.js';
import type { InferenceEngine } from '../engine.js';
import { semanticDataset, trainSemantic } from './train.js';
import { evaluateSemantic, semanticEvaluation, semanticReport } from './evaluate.js';
import { predictLabelMaps } from './predict.js';

/** The segmenter's graph is not exported yet: asking for it must not silently run something else. */
function refuseOnnx(engine: InferenceEngine | undefined): void {
  if (engine?.name === 'onnx') throw new DensekitError('the ONNX engine does not run segmenters yet: use --engine tfjs');
}

/** Semantic segmentation (Mask2Former on ViT-Adapter) as a task. */
export function semanticTask(config: SegmenterRunConfig): Task {
  return {
    kind: 'semantic',
    config,
    onnx: false,
    train: (opts) => trainSemantic(config, opts),
    async evaluate(weights, split, opts = {}) {
      refuseOnnx(opts.engine);
      const dataset = semanticDataset(config, split);
      if (!dataset) throw new DensekitError(`the config has no data.${split}`, { key: `data.${split}` });
      const model = loadSegmenter(config.model, config.input, weights);
      try {
        return semanticEvaluation(semanticReport(await evaluateSemantic(model, dataset, config, opts.onImage), config.model.head.num_classes));
      } finally {
        model.dispose();
      }
    },
    async predict(weights, files, out, opts = {}) {
      refuseOnnx(opts.engine);
      const model = loadSegmenter(config.model, config.input, weights);
      try {
        const { written, skipped } = await predictLabelMaps(model, files, out, config.input, config.model.test, opts.onImage);
        return { summary: `${written} label maps → ${out}`, skipped };
      } finally {
        model.dispose();
      }
    },
    async exportOnnx() {
      throw new DensekitError('ONNX export of segmenters is not implemented yet (only detectors); the segmenter runs on tfjs');
    },
  };
}
