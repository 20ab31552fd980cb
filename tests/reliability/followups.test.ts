import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import { isDetectorConfig, isSegmenterConfig, type DetectorRunConfig, type SegmenterRunConfig } from '../../src/config/schema.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { loadCocoDataset, type DetectionDataset } from '../../src/data/coco-dataset.js';
import { writeSemanticDataset, writeShapesDataset } from '../../src/data/synthesize.js';
import { evaluateDetector } from '../../src/tasks/detection/evaluate.js';
import { trainSemantic } from '../../src/tasks/semantic/train.js';
import { taskFor } from '../../src/tasks/index.js';
import { mergeSemanticAreas, type ShardFile } from '../../src/tasks/merge.js';
import { finishRecords, planPrediction, runPrediction, type Predictor } from '../../src/tasks/predict-run.js';
import { readHeader } from '../../src/tasks/results-log.js';
import { RUN_FILES } from '../../src/train/run-folder.js';
import { DensekitError } from '../../src/util/errors.js';
import * as api from '../../src/index.js';
import { runCli } from '../helpers/cli.js';

/**
 * Class names, engine options, evaluation images and label-map names, as
 * every entry point (CLI and library) must treat them: the data's class
 * names in merged metrics and checked before training, the engine options
 * of `eval model` checked when parsed, a detector's evaluation refusing a
 * missing image before predicting any and stopping at the first that does
 * not decode, and a segmenter's prediction refusing two images that would
 * write one label map. Tiny models with random weights: what is checked is
 * the behaviour.
 */

const DET = 'configs/demo/mask_rcnn_tiny_synth.yaml';
const DET_SETS = ['input.test_size=64', 'input.square_pad=64', 'input.train_size=64'];
const SEG = 'configs/demo/mask2former_adapter_tiny_synth.yaml';
const SEG_SETS = ['input.test_size=64', 'input.train_size=64', 'model.backbone.pretrain_img_size=64'];

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'densekit-followups-'));
  await initBackend();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a call throws (a DensekitError is expected). */
async function errorOf(f: () => unknown): Promise<DensekitError> {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(DensekitError);
    return err as DensekitError;
  }
  throw new Error('expected an error');
}

function segConfig(extra: string[] = []): SegmenterRunConfig {
  const { config } = loadConfig(SEG, [...SEG_SETS, ...extra]);
  const { stages: _s, ...run } = config;
  if (!isSegmenterConfig(run)) throw new Error('not a segmenter config');
  return run;
}

/** Two complete semantic shards (a stand-in predictor) whose header carries `areas`. */
async function semanticShards(name: string, areas: Record<string, unknown>): Promise<ShardFile[]> {
  const weights = join(dir, `${name}-weights`);
  writeFileSync(weights, 'weights');
  const files = ['img/a.png', 'img/b.png', 'img/c.png'];
  const fake: Predictor = {
    // Class 0 everywhere right; class 1 half right; class 2 never predicted.
    predict: async () => ({ areas: [[0, 4, 4, 4], [1, 1, 2, 2], [2, 0, 0, 1]] }),
    async dispose() {},
  };
  const shards: ShardFile[] = [];
  for (let i = 0; i < 2; i++) {
    const shard = { index: i, count: 2, source: 'test' };
    const plan = planPrediction({ task: 'semantic', weights, config: {}, files, options: { areas }, shard });
    const path = join(dir, name, `predictions.shard-${i}-of-2.jsonl`);
    mkdirSync(join(dir, name), { recursive: true });
    const run = await runPrediction(plan, `${path}.log`, { resume: false, open: async () => fake });
    finishRecords(plan, run.log, path, plan.mine.length);
    shards.push({ path, header: readHeader(path)! });
  }
  return shards;
}

describe('merge names a segmenter\'s classes as eval ade20k does', () => {
  it("the data's classes.json beside the shards' annotations names the rows; older shards without the folder merge with classes by id", async () => {
    const gtDir = join(dir, 'seg-data', 'annotations', 'validation');
    mkdirSync(gtDir, { recursive: true });
    writeFileSync(join(dir, 'seg-data', 'classes.json'), JSON.stringify(['sky', 'road', 'tree']));
    const areas = { numClasses: 3, reduceZeroLabel: true, ignoreIndex: 255 };

    const named = mergeSemanticAreas(await semanticShards('named', { ...areas, gtDir }));
    expect(named.report.perClass.map((c) => c.name)).toEqual(['sky', 'road', 'tree']);
    expect(named.labelMaps).toBe(3);
    expect(named.report.perClass[1]!.iou).toBeCloseTo(1 / 3);

    const older = mergeSemanticAreas(await semanticShards('older', areas));
    expect(older.report.perClass.map((c) => c.name)).toEqual(['class 0', 'class 1', 'class 2']);
    expect(older.report.mIoU).toBe(named.report.mIoU);

    // Names that do not fit the shards' classes are refused, naming the file.
    const wrongDir = join(dir, 'seg-wrong', 'annotations', 'validation');
    mkdirSync(wrongDir, { recursive: true });
    writeFileSync(join(dir, 'seg-wrong', 'classes.json'), JSON.stringify(['sky', 'road']));
    const shards = await semanticShards('wrong', { ...areas, gtDir: wrongDir });
    const err = await errorOf(() => mergeSemanticAreas(shards));
    expect(err.message).toBe(`${join(dir, 'seg-wrong', 'classes.json')}: names 2 classes (ids 0..1), but there are 3 (the shards' number of classes); the names must be of classes 0..2`);
  });
});

describe('a segmenter\'s training checks the data\'s class names against the model before it starts', () => {
  it('a classes.json naming 3 classes for a 5-class head: one error naming the file and model.head.num_classes, nothing trained', async () => {
    const data = join(dir, 'train-data');
    await writeSemanticDataset({ out: data, trainImages: 1, valImages: 1, size: 32, seed: 3 });
    writeFileSync(join(data, 'classes.json'), JSON.stringify(['background', 'square', 'circle']));
    const cfg = segConfig([
      `data.train.images=${join(data, 'images', 'training')}`,
      `data.train.annotations=${join(data, 'annotations', 'training')}`,
      `data.val.images=${join(data, 'images', 'validation')}`,
      `data.val.annotations=${join(data, 'annotations', 'validation')}`,
      'train.max_iter=1',
      'train.ims_per_batch=1',
      'input.train_size=32',
    ]);
    const out = join(dir, 'train-run');
    const err = await errorOf(() => trainSemantic(cfg, { outDir: out, verbose: false, log: () => {} }));
    expect(err.message).toBe(`${join(data, 'classes.json')}: names 3 classes (ids 0..2), but there are 5 (model.head.num_classes); the names must be of classes 0..4`);
    expect(existsSync(join(out, RUN_FILES.metrics))).toBe(false);
    expect(existsSync(join(out, RUN_FILES.lastCheckpoint))).toBe(false);
  });
});

describe('the library exports', () => {
  it('class names and the semantic visualizer', () => {
    const names: api.ClassNames = api.resolveClassNames({ dataDirs: [dir] });
    expect(api.className(names, 3)).toBe('class 3');
    const file = join(dir, 'names.json');
    writeFileSync(file, JSON.stringify(['a', 'b']));
    expect(api.className(api.readClassesFile(file), 1)).toBe('b');
    expect(typeof api.visualizeSemantic).toBe('function');
  });
});

describe('eval model: --engine and --device are checked against their choices when parsed', () => {
  it('a value outside the choices is a usage error, exit 2, before the config is read', () => {
    for (const [option, value, allowed] of [
      ['--engine', 'gpu', 'onnx, tfjs'],
      ['--device', 'tpu', 'cpu, webgpu, cuda'],
    ]) {
      const r = runCli(['eval', 'model', '-c', 'nope.yaml', '-w', 'w', option!, value!]);
      expect(r.status, option).toBe(2);
      expect(r.stderr, option).toContain(`argument '${value}' is invalid. Allowed choices are ${allowed}.`);
    }
  });
});

describe("a detector's evaluation: every image or none", () => {
  let model: GeneralizedRCNN;
  let cfg: DetectorRunConfig;
  let ds: DetectionDataset;
  beforeAll(async () => {
    const { config } = loadConfig(DET, DET_SETS);
    const { stages: _s, ...run } = config;
    if (!isDetectorConfig(run)) throw new Error('not a detector config');
    cfg = run;
    model = new GeneralizedRCNN({ ...run.model, backbone: { ...run.model.backbone, pretrained: null } }, run.input, 7);
    await writeShapesDataset({ out: join(dir, 'det-data'), trainImages: 1, valImages: 3, size: 64, seed: 5 });
    ds = loadCocoDataset(join(dir, 'det-data', 'annotations', 'instances_val.json'), join(dir, 'det-data', 'val'));
    expect(ds.records.length).toBe(3);
  });
  afterAll(() => model.dispose());

  /** The data set with its images copied into `name`, `change` applied to that folder. */
  function copyOf(name: string, change: (files: string[]) => void): DetectionDataset {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    const records = ds.records.map((r) => {
      const file = join(d, r.file.split('/').pop()!);
      copyFileSync(r.file, file);
      return { imageId: r.imageId, file, width: r.width, height: r.height, objects: r.objects };
    });
    change(records.map((r) => r.file));
    return { ...ds, records };
  }

  it('an image that is not there is refused, named, before any image is predicted', async () => {
    let missing = '';
    const set = copyOf('det-missing', (files) => {
      missing = files.at(-1)!;
      rmSync(missing);
    });
    const seen: number[] = [];
    const err = await errorOf(() => evaluateDetector(model, set, cfg.input, (d) => seen.push(d)));
    expect(err.location.file).toBe(missing);
    expect(err.message).toBe(`${missing}: evaluation image listed in ${ds.annotationFile} is not there (ENOENT)`);
    expect(seen).toEqual([]);
  });

  it('the first image that does not decode stops the evaluation: the rest of the split is not predicted', async () => {
    let bad = '';
    const set = copyOf('det-undecodable', (files) => {
      bad = files[0]!;
      writeFileSync(bad, 'this is not an image\n');
    });
    const seen: number[] = [];
    const err = await errorOf(() => evaluateDetector(model, set, cfg.input, (d) => seen.push(d)));
    expect(err.message).toBe(`${ds.annotationFile}: could not read evaluation image ${bad}: cannot decode image (Input file contains unsupported image format)`);
    expect(seen).toEqual([]);
  });
});

describe("a segmenter's prediction called from the library", () => {
  it('refuses two images that would write one label map, before any work', async () => {
    const a = join(dir, 'coll', 'a');
    const b = join(dir, 'coll', 'b');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    for (const d of [a, b]) writeFileSync(join(d, 'x.png'), 'an image');
    const out = join(dir, 'coll-out');
    const task = taskFor(segConfig());
    const err = await errorOf(() => task.predict(join(dir, 'no-such-weights.safetensors'), [join(a, 'x.png'), join(b, 'x.png')], out));
    expect(err.message).toBe(`outputs collide: ${join(a, 'x.png')} and ${join(b, 'x.png')} would both write x.png: predict each folder into its own output folder`);
    expect(existsSync(out)).toBe(false);
    // The same file twice is one image, not a collision (it fails later, on the weights).
    const once = await errorOf(() => task.predict(join(dir, 'no-such-weights.safetensors'), [join(a, 'x.png'), join(a, 'x.png')], out));
    expect(once.message).not.toMatch(/outputs collide/);
    expect(readdirSync(dir)).not.toContain('coll-out');
  });
});
