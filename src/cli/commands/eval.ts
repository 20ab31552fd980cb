import type { Command } from 'commander';
import { DensekitError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { progressOf } from '../../util/progress.js';
import { action } from '../run-action.js';
import { collect } from './config.js';
import { loadConfig } from '../../config/index.js';
import { initBackend, describeBackend } from '../../engine/backend.js';
import { taskFor } from '../../tasks/index.js';
import { chooseEngine, describeEngine } from '../../tasks/engine.js';
import { addEngineOptions, type EngineOptions } from './engine-options.js';
import { parseCount } from '../option-values.js';
import { evaluateCocoInputs } from '../../tasks/detection/evaluate-inputs.js';
import { evaluateSemanticDirs, formatSemanticReport, renameClasses, semanticEvaluation, type SemanticEvalReport } from '../../tasks/semantic/evaluate.js';
import { namePerCategory } from '../../tasks/detection/evaluate.js';
import { checkClassCount, noClassNamesNote, readClassesFile, resolveClassNames } from '../../data/class-names.js';
import { isSegmenterConfig } from '../../config/schema.js';

const CLASSES_HELP = 'class names (JSON list, COCO categories, or .txt one per line) instead of the data\'s own';

export function registerEval(program: Command): void {
  const cmd = program.command('eval').description('evaluate results (COCO bbox/segm, ADE20K semantic) or a model');
  cmd
    .command('coco')
    .description('COCO evaluation identical to pycocotools (prints its summary)')
    .requiredOption('--gt <file>', 'ground-truth COCO instances JSON')
    .requiredOption('--dt <files...>', 'results: a COCO results JSON, or several files / globs (the shards of one run, checked to be complete, or plain results lists)')
    .option('--iou-type <type>', 'bbox or segm', 'bbox')
    .option('--json <file>', 'also write {stats, perCategory, ...} as JSON')
    .option('--group-detections <n>', 'several files: evaluate categories in groups of about n detections (bounds memory)', parseCount)
    .option('--classes <file>', `${CLASSES_HELP} (the GT's categories) in the JSON's perCategory`)
    .action(
      action((opts: { gt: string; dt: string[]; iouType: string; json?: string; groupDetections?: number; classes?: string }) => {
        if (opts.iouType !== 'bbox' && opts.iouType !== 'segm') throw new DensekitError(`--iou-type must be bbox or segm, got ${opts.iouType}`);
        // Read before the evaluation, so a bad file stops the command before any work.
        const names = opts.classes !== undefined ? readClassesFile(opts.classes) : undefined;
        const report = evaluateCocoInputs(opts.gt, opts.dt, opts.iouType, { groupDetections: opts.groupDetections });
        if (names) report.perCategory = namePerCategory(report.perCategory, names);
        if (report.inputs.files > 1 || report.inputs.shards > 0) {
          const what = report.inputs.shards > 0 ? `${report.inputs.shards} shards of one run` : `${report.inputs.files} results files`;
          process.stderr.write(`densekit: ${what}: ${report.inputs.detections} detections, evaluated in ${report.inputs.groups} group${report.inputs.groups > 1 ? 's' : ''} of categories\n`);
        }
        if (report.unknownCategoryResults > 0) {
          process.stderr.write(`densekit: note: ${report.unknownCategoryResults} results name a category the GT lacks; they are ignored (as pycocotools does)\n`);
        }
        process.stdout.write(report.summary);
        const { inputs: _inputs, ...rest } = report;
        if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(rest, null, 2)}\n`);
      }),
    );
  cmd
    .command('ade20k')
    .description('semantic segmentation metrics as mmseg (aAcc, mIoU, mAcc, per class)')
    .requiredOption('--gt-dir <dir>', 'folder of annotation PNGs (raw ADE20K values)')
    .requiredOption('--pred-dir <dir>', 'folder of predicted label PNGs with the same names')
    .option('--num-classes <n>', "number of classes (default: as many as the data's class names, else ADE20K's 150)", parseCount)
    .option('--reduce-zero-label', 'raw 0 is ignored and k becomes k-1 (ADE20K)', false)
    .option('--json <file>', 'also write {aAcc, mIoU, mAcc, perClass} as JSON (fractions, null for NaN)')
    .option('--classes <file>', `${CLASSES_HELP} (a classes.json at the data's root, or ADE20K's for ADE20K)`)
    .action(
      action(async (opts: { gtDir: string; predDir: string; numClasses?: number; reduceZeroLabel: boolean; json?: string; classes?: string }) => {
        if (opts.numClasses !== undefined && opts.numClasses > 255) throw new DensekitError('--num-classes must be an integer in 1..255');
        const dataDirs = [opts.gtDir];
        const names = resolveClassNames({ file: opts.classes, dataDirs, labelMaps: true, count: opts.numClasses, countSource: '--num-classes' });
        const numClasses = opts.numClasses ?? (names.source !== undefined ? names.byId.size : 150);
        checkClassCount(names, numClasses, '--num-classes');
        if (numClasses > 255) throw new DensekitError(`names ${numClasses} classes; label PNGs hold at most 255`, { file: names.source });
        if (names.source === undefined) process.stderr.write(`densekit: note: ${noClassNamesNote(dataDirs)}\n`);
        const report = await evaluateSemanticDirs(opts.gtDir, opts.predDir, numClasses, opts.reduceZeroLabel, names);
        process.stdout.write(formatSemanticReport(report));
        if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
      }),
    );
  const model = cmd
    .command('model')
    .description('run a trained model on a dataset split of its config: COCO metrics for a detector, mIoU for a segmenter')
    .requiredOption('-c, --config <file>', 'model config (YAML)')
    .requiredOption('-w, --weights <file>', 'trained weights (.safetensors)')
    .option('--split <name>', 'data split of the config (val or train)', 'val');
  // --engine, --device and --threads, checked against their choices when parsed (as predict's).
  addEngineOptions(model);
  model
    .option('--json <file>', 'also write the metrics as JSON')
    .option('--set <key=value...>', 'override a config key (repeatable)', collect, [])
    .option('--classes <file>', `segmenters: ${CLASSES_HELP} (a classes.json at the data's root, or ADE20K's for ADE20K)`)
    .action(
      action(async (opts: { config: string; weights: string; split: string; json?: string; set: string[]; classes?: string } & EngineOptions) => {
        const { config: loaded } = loadConfig(opts.config, opts.set);
        const { stages: _stages, ...config } = loaded;
        if (opts.split !== 'val' && opts.split !== 'train') throw new DensekitError(`--split must be val or train, got ${opts.split}`);
        const d = config.data[opts.split];
        if (!d) throw new DensekitError(`the config has no data.${opts.split}`, { file: opts.config, key: `data.${opts.split}` });
        let names;
        if (opts.classes !== undefined) {
          if (!isSegmenterConfig(config)) throw new DensekitError("--classes names a segmenter's classes: a detector's evaluation (COCO's summary) names none, and its class names are its GT file's categories");
          names = readClassesFile(opts.classes);
          checkClassCount(names, config.model.head.num_classes, 'model.head.num_classes');
        }
        const task = taskFor(config);
        const engine = await chooseEngine(opts.engine, { device: opts.device, threads: opts.threads, onnxSupported: task.onnx });
        process.stderr.write(`${describeBackend(await initBackend())}\n${describeEngine(engine)}\n`);
        const bar = progressOf('eval');
        let evaluation = await task.evaluate(opts.weights, opts.split, { onImage: bar.update, engine });
        bar.stop();
        if (names) evaluation = semanticEvaluation(renameClasses(evaluation.report as SemanticEvalReport, names));
        process.stdout.write(evaluation.summary);
        if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(evaluation.report, null, 2)}\n`);
      }),
    );
}
