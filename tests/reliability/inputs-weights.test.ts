import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco } from '@densekit/eval';
import { initBackend } from '../../src/engine/backend.js';
import { loadConfig } from '../../src/config/index.js';
import { isDetectorConfig } from '../../src/config/schema.js';
import { GeneralizedRCNN } from '../../src/detection/rcnn.js';
import { Mask2Former } from '../../src/segmentation/mask2former.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import { writeShapesDataset } from '../../src/data/synthesize.js';
import { readTorchStateDict } from '../../src/io/torch.js';
import type { HostTensor } from '../../src/io/host-tensor.js';
import { convertBeit3 } from '../../src/backbone/convert/beit3-keys.js';
import { loadBeit3Weights, readBeit3Weights } from '../../src/backbone/convert/load-beit3.js';
import { Beit3Encoder } from '../../src/backbone/beit3.js';
import { BEIT3_SIZES } from '../../src/backbone/sizes.js';
import { imageIds, listImages } from '../../src/tasks/inputs.js';
import { planPrediction, runPrediction, finishRecords, countResults, type Predictor } from '../../src/tasks/predict-run.js';
import { shardResultsPath } from '../../src/tasks/shards.js';
import { action, systemErrorLine } from '../../src/cli/run-action.js';
import { DensekitError } from '../../src/util/errors.js';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CliResult } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { writeTorchCheckpoint } from '../helpers/torch-file.js';

/**
 * What densekit does with inputs that are not what they should be:
 * unreadable images among good ones (skipped, named, exit 3, outputs
 * complete for the others), inputs known bad before any work (exit 2,
 * nothing written), image ids that would collide, weight files whose
 * tensors do not fit, and config errors an override caused. Tiny models at
 * 64 px with random weights: what is checked is the behaviour, not the
 * predictions.
 */

const DET = 'configs/demo/mask_rcnn_tiny_synth.yaml';
const DET_SETS = ['input.test_size=64', 'input.square_pad=64', 'input.train_size=64'];
const SEG = 'configs/demo/mask2former_adapter_tiny_synth.yaml';
const SEG_SETS = ['input.test_size=64', 'input.train_size=64', 'model.backbone.pretrain_img_size=64'];
const sets = (s: string[]) => s.flatMap((x) => ['--set', x]);
/** No scheduler variables from the environment the tests run in (they would shard the run). */
const NO_SCHEDULER = { SLURM_ARRAY_TASK_ID: '', SLURM_ARRAY_TASK_COUNT: '', SLURM_ARRAY_TASK_MIN: '', SLURM_ARRAY_TASK_MAX: '', JOB_COMPLETION_INDEX: '', DENSEKIT_SHARDS: '' };

let dir: string;
let cache: string;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The CLI from its sources, as a child process that runs beside the others (the tests of a group run concurrently). */
function cli(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...NO_SCHEDULER, DENSEKIT_CACHE: cache } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.on('close', (status) => res({ status, stdout, stderr })));
}

/** Random weights for a config (what is tested is the files and exit statuses, not the quality). */
async function randomWeights(config: string, overrides: string[], out: string): Promise<void> {
  const { config: c } = loadConfig(config, overrides);
  const { stages: _s, ...run } = c;
  const backbone = { ...run.model.backbone, pretrained: null };
  const model = isDetectorConfig(run)
    ? new GeneralizedRCNN({ ...run.model, backbone }, run.input, 7)
    : new Mask2Former({ ...(run.model as Extract<typeof run.model, { arch: 'mask2former' }>), backbone }, run.input, 7);
  saveCheckpoint(out, model, undefined, { format: 'densekit-checkpoint-1', iteration: 0, optimizerStep: 0, loaderPosition: 0, rngStates: [], config: JSON.stringify(run) });
  model.dispose();
}

/** A folder of images: copies of good PNGs under the given names, and files that are not images. */
function imageFolder(name: string, good: Record<string, string>, bad: string[] = []): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [to, from] of Object.entries(good)) copyFileSync(from, join(d, to));
  for (const b of bad) writeFileSync(join(d, b), 'this is not an image\n');
  return d;
}

/** The lines of stderr that name `text`. */
const linesWith = (stderr: string, text: string) => stderr.split('\n').filter((l) => l.includes(text));

let detWeights: string;
let segWeights: string;
let png1: string;
let png2: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'densekit-reliability-'));
  cache = join(dir, 'cache');
  await initBackend();
  await writeShapesDataset({ out: join(dir, 'data'), trainImages: 1, valImages: 2, size: 64, seed: 5 });
  [png1, png2] = readdirSync(join(dir, 'data', 'val')).sort().map((f) => join(dir, 'data', 'val', f)) as [string, string];
  detWeights = join(dir, 'det.safetensors');
  segWeights = join(dir, 'seg.safetensors');
  await randomWeights(DET, DET_SETS, detWeights);
  await randomWeights(SEG, SEG_SETS, segWeights);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.concurrent('an unreadable image among readable ones: skipped, named, exit 3, the outputs complete for the others', () => {
  it('detector: the results file holds the readable images; each skipped file is named once with its reason', async () => {
    const imgs = imageFolder('det-mixed', { '0001.png': png1!, '0002.png': png2! }, ['0003.png']);
    const out = join(dir, 'det-mixed.json');
    const r = await cli(['predict', '-c', DET, '-w', detWeights, '-i', imgs, '-o', out, '--engine', 'tfjs', ...sets(DET_SETS)]);
    expect(r.status, r.stderr).toBe(3);
    const skippedLines = linesWith(r.stderr, '0003.png');
    expect(skippedLines).toEqual([`densekit: skipped ${join(imgs, '0003.png')}: cannot decode image (Input file contains unsupported image format)`]);
    expect(r.stderr).toContain('densekit: 1 of 3 images skipped');
    const results = JSON.parse(readFileSync(out, 'utf8')) as { image_id: number }[];
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((d) => d.image_id))).toEqual(new Set([1, 2]));
    expect(readdirSync(dir).filter((f) => f.startsWith('det-mixed.json'))).toEqual(['det-mixed.json']);
  });

  it('segmenter: label maps for the readable images, none for the skipped one', async () => {
    const imgs = imageFolder('seg-mixed', { 'a.png': png1!, 'b.png': png2! }, ['c.png']);
    const out = join(dir, 'seg-mixed-out');
    const r = await cli(['predict', '-c', SEG, '-w', segWeights, '-i', imgs, '-o', out, '--engine', 'tfjs', ...sets(SEG_SETS)]);
    expect(r.status, r.stderr).toBe(3);
    expect(linesWith(r.stderr, 'c.png')).toEqual([`densekit: skipped ${join(imgs, 'c.png')}: cannot decode image (Input file contains unsupported image format)`]);
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png']);
  });

  it('eval model: a metric over part of a split is not the split\'s metric, so an unreadable image is exit 2, no metrics written', async () => {
    const val = imageFolder('eval-val', { [png1!.split('/').pop()!]: png1! }, [png2!.split('/').pop()!]);
    const json = join(dir, 'eval-metrics.json');
    const r = await cli([
      'eval', 'model', '-c', DET, '-w', detWeights, '--engine', 'tfjs', '--json', json, ...sets(DET_SETS),
      ...sets([`data.val.images=${val}`, `data.val.annotations=${join(dir, 'data', 'annotations', 'instances_val.json')}`]),
    ]);
    expect(r.status).toBe(2);
    const bad = join(val, png2!.split('/').pop()!);
    expect(linesWith(r.stderr, 'densekit:')).toEqual([`densekit: error: ${join(dir, 'data', 'annotations', 'instances_val.json')}: could not read evaluation image ${bad}: cannot decode image (Input file contains unsupported image format)`]);
    expect(existsSync(json)).toBe(false);
  });

  it('merge of shards whose run skipped an image: the merged file is written, the image named, exit 3', async () => {
    const weights = join(dir, 'fake-weights');
    writeFileSync(weights, 'weights');
    const files = ['img/1.png', 'img/2bad.png', 'img/3.png'];
    const fake: Predictor = {
      async predict(img) {
        if (img.file.includes('bad')) return { skipped: `${img.file}: cannot decode image (truncated)` };
        return { image_id: img.imageId, results: [{ image_id: img.imageId, category_id: 1, bbox: [0, 0, 4, 4], score: 0.5 }] };
      },
      async dispose() {},
    };
    const out = join(dir, 'shards', 'val.json');
    const shardFiles: string[] = [];
    for (let i = 0; i < 2; i++) {
      const shard = { index: i, count: 2, source: 'test' };
      const plan = planPrediction({ task: 'detection', weights, config: {}, files, options: {}, shard });
      const f = shardResultsPath(out, shard);
      const run = await runPrediction(plan, `${f}.log`, { resume: false, open: async () => fake });
      finishRecords(plan, run.log, f, countResults(plan, run.log));
      shardFiles.push(f);
    }
    const merged = join(dir, 'merged.json');
    const [r, intoFolder] = await Promise.all([cli(['merge', ...shardFiles, '-o', merged]), cli(['merge', ...shardFiles, '-o', dir])]);
    expect(intoFolder.status).toBe(2);
    expect(intoFolder.stderr).toBe(`densekit: error: ${dir}: is a folder; merge writes a JSON file (give a file name)\n`);
    expect(r.status, r.stderr).toBe(3);
    expect(linesWith(r.stderr, '2bad.png')).toEqual(['densekit: skipped img/2bad.png: cannot decode image (truncated)']);
    expect((JSON.parse(readFileSync(merged, 'utf8')) as unknown[]).length).toBe(2);
  });
});

describe.concurrent('inputs known bad before any work: exit 2, nothing written', () => {
  it('an image path that does not exist is refused before the model loads', async () => {
    const imgs = imageFolder('one-good-1', { '0001.png': png1! });
    const out = join(dir, 'missing.json');
    const r = await cli(['predict', '-c', DET, '-w', detWeights, '-i', imgs, join(dir, 'no-such-folder'), '-o', out, ...sets(DET_SETS)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`densekit: error: ${join(dir, 'no-such-folder')}: no such image file or folder (ENOENT)`);
    expect(r.stderr).not.toMatch(/^backend:/m);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.log`)).toBe(false);
  });

  it('weights that do not load (hostile safetensors headers) leave an earlier log as it was, and no new one', async () => {
    const imgs = imageFolder('one-good-2', { '0001.png': png1! });
    const out = join(dir, 'badweights.json');
    writeFileSync(`${out}.log`, 'an earlier run\n');
    const header = (json: string) => {
      const body = Buffer.from(json, 'utf8');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(body.length));
      return Buffer.concat([len, body, Buffer.alloc(16)]);
    };
    const cases: [string, string, string][] = [
      ['null.safetensors', 'null', 'header is null, not a JSON object'],
      ['negative.safetensors', JSON.stringify({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }), 'w: shape [-4] is not a list of non-negative integers'],
    ];
    const runs = await Promise.all(
      cases.map(([name, json]) => {
        writeFileSync(join(dir, name), header(json));
        return cli(['predict', '-c', DET, '-w', join(dir, name), '-i', imgs, '-o', out, '--engine', 'tfjs', ...sets(DET_SETS)]);
      }),
    );
    for (const [i, [name, , words]] of cases.entries()) {
      const w = join(dir, name);
      const r = runs[i]!;
      expect(r.status, name).toBe(2);
      const errors = linesWith(r.stderr, 'densekit:');
      expect(errors, name).toEqual([`densekit: error: ${w}: ${words}`]);
      expect(readFileSync(`${out}.log`, 'utf8'), name).toBe('an earlier run\n');
      expect(existsSync(out), name).toBe(false);
    }
  });

  it('a segmenter given a file for its output folder, and a detector output under a file: exit 2, never 1', async () => {
    const imgs = imageFolder('one-good-3', { '0001.png': png1! });
    const file = join(dir, 'a-file.json');
    writeFileSync(file, '[]');
    const [seg, det] = await Promise.all([
      cli(['predict', '-c', SEG, '-w', segWeights, '-i', imgs, '-o', file, ...sets(SEG_SETS)]),
      cli(['predict', '-c', DET, '-w', detWeights, '-i', imgs, '-o', join(file, 'r.json'), '--engine', 'tfjs', ...sets(DET_SETS)]),
    ]);
    expect(seg.status).toBe(2);
    expect(seg.stderr).toContain(`densekit: error: ${file}: is a file; a segmenter writes its label maps into a folder`);
    expect(det.status, det.stderr).toBe(2);
    expect(linesWith(det.stderr, 'densekit:')).toEqual([`densekit: error: ${file}: cannot mkdir: exists and is not a folder (EEXIST)`]);
    expect(readFileSync(file, 'utf8')).toBe('[]');
  });

  it('an output that would overwrite an input image is refused (label maps into the image folder, results onto an image)', async () => {
    const imgs = imageFolder('pngs', { 'p.png': png1! });
    const before = readFileSync(join(imgs, 'p.png'));
    const [seg, det] = await Promise.all([
      cli(['predict', '-c', SEG, '-w', segWeights, '-i', imgs, '-o', imgs, ...sets(SEG_SETS)]),
      cli(['predict', '-c', DET, '-w', detWeights, '-i', join(imgs, 'p.png'), '-o', join(imgs, 'p.png'), ...sets(DET_SETS)]),
    ]);
    expect(seg.status).toBe(2);
    expect(seg.stderr).toContain(`densekit: error: ${join(imgs, 'p.png')}: is one of the input images: the output would overwrite it`);
    expect(det.status).toBe(2);
    expect(det.stderr).toContain(`${join(imgs, 'p.png')}: is one of the input images`);
    expect(readFileSync(join(imgs, 'p.png')).equals(before)).toBe(true);
    expect(readdirSync(imgs)).toEqual(['p.png']);
  });
});

describe.concurrent('image identity: two files never share an image id', () => {
  it('the same file name in two folders is refused before any work, naming both files', async () => {
    const a = imageFolder('cam1', { '0001.png': png1! });
    const b = imageFolder('cam2', { '0001.png': png2! });
    expect(() => imageIds([join(a, '0001.png'), join(b, '0001.png')])).toThrow(
      `image ids collide: ${join(a, '0001.png')} (the number in its name) and ${join(b, '0001.png')} (the number in its name) would both be image id 1`,
    );
    // Numbers read alike in different names, or a position that equals another file's number.
    expect(() => imageIds(['x/img1.png', 'x/img01.png'])).toThrow(/x\/img1\.png .* and x\/img01\.png .* would both be image id 1/);
    expect(() => imageIds(['x/cat.png', 'x/img1.png'])).toThrow(/x\/cat\.png \(its position in the sorted list\) and x\/img1\.png \(the number in its name\) would both be image id 1/);
    expect(imageIds(['x/000000000139.jpg', 'x/000000000285.jpg']).map((i) => i.imageId)).toEqual([139, 285]);

    const out = join(dir, 'collide.json');
    const segOut = join(dir, 'collide-seg');
    const [det, seg] = await Promise.all([
      cli(['predict', '-c', DET, '-w', detWeights, '-i', a, b, '-o', out, '--engine', 'tfjs', ...sets(DET_SETS)]),
      cli(['predict', '-c', SEG, '-w', segWeights, '-i', a, b, '-o', segOut, ...sets(SEG_SETS)]),
    ]);
    expect(det.status).toBe(2);
    expect(det.stderr).toContain(`image ids collide: ${join(a, '0001.png')}`);
    expect(det.stderr).toContain(`and ${join(b, '0001.png')}`);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.log`)).toBe(false);

    expect(seg.status).toBe(2);
    expect(seg.stderr).toContain(`outputs collide: ${join(a, '0001.png')} and ${join(b, '0001.png')} would both write 0001.png`);
    expect(existsSync(segOut)).toBe(false);
  });

  it('with a GT file, the folders above a name tell images apart; an ambiguous match is refused', () => {
    const gt = (names: [number, string][]) =>
      new Coco({ images: names.map(([id, file_name]) => ({ id, file_name, width: 64, height: 64 })), annotations: [], categories: [{ id: 1, name: 'a' }] }, 'gt.json');
    const two = gt([
      [10, 'cam1/0001.png'],
      [20, 'cam2/0001.png'],
    ]);
    expect(imageIds(['/data/val/cam1/0001.png', '/data/val/cam2/0001.png'], two).map((i) => i.imageId)).toEqual([10, 20]);
    // A GT file naming images by base name alone still matches them.
    expect(imageIds(['/data/x/0007.png'], gt([[7, '0007.png']])).map((i) => i.imageId)).toEqual([7]);
    // One GT image for two files: refused, naming both.
    expect(() => imageIds(['/d/cam1/0001.png', '/d/cam2/0001.png'], gt([[5, '0001.png']]))).toThrow(
      /image ids collide: \/d\/cam1\/0001\.png \(GT file_name "0001\.png"\) and \/d\/cam2\/0001\.png \(GT file_name "0001\.png"\) would both be image id 5/,
    );
    // A file that matches two GT images equally well.
    expect(() => imageIds(['/d/other/0001.png'], two)).toThrow(/gt\.json: image \/d\/other\/0001\.png matches 2 GT images equally well: "cam1\/0001\.png" \(id 10\), "cam2\/0001\.png" \(id 20\)/);
  });

  it('the same file named twice (by itself and through its folder) is one image', () => {
    const a = imageFolder('twice', { '0001.png': png1!, '0002.png': png2! });
    expect(listImages([join(a, '0001.png'), a, `${a}/./0002.png`])).toEqual([join(a, '0001.png'), join(a, '0002.png')]);
    expect(() => listImages([a, join(dir, 'nothing-here')])).toThrow(`${join(dir, 'nothing-here')}: no such image file or folder`);
  });
});

describe.concurrent('weight files: tensors checked against what the checkpoint says it is', () => {
  const PTH = fixture('torch-ref', 'beit3_tiny.pth');
  const official = (): Map<string, HostTensor> => readTorchStateDict(PTH);
  const f32 = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

  it('convert: a tensor of the wrong size is refused naming the file, the tensor, expected and found shapes; nothing written', async () => {
    const sd = official();
    sd.set('beit3.encoder.layers.2.self_attn.q_proj.A.weight', f32([64, 60]));
    const bad = join(dir, 'wrong-size.pth');
    writeTorchCheckpoint(bad, sd);
    const out = join(dir, 'wrong-size.safetensors');
    const r = await cli(['convert', 'beit3', bad, out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`densekit: error: ${bad}: beit3.encoder.layers.2.self_attn.q_proj.A.weight: shape [64, 60], expected [64, 64] (the checkpoint's width 64, FFN width 256, patch 16)\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('a tensor of the wrong rank, an incomplete block, a bad position table: DensekitErrors naming the tensor', () => {
    const refused = (edit: (sd: Map<string, HostTensor>) => void, words: string) => {
      const sd = official();
      edit(sd);
      expect(() => convertBeit3(sd, 'x.pth')).toThrow(DensekitError);
      expect(() => convertBeit3(sd, 'x.pth')).toThrow(words);
    };
    refused((sd) => sd.set('beit3.vision_embed.proj.weight', f32([64, 768])), 'x.pth: beit3.vision_embed.proj.weight: shape [64, 768], expected a patch-embedding conv kernel [width, 3, patch, patch]');
    refused((sd) => sd.set('beit3.encoder.layers.1.ffn.A.fc2.weight', f32([64, 256, 1])), 'x.pth: beit3.encoder.layers.1.ffn.A.fc2.weight: shape [64, 256, 1], expected [64, 256]');
    refused((sd) => sd.set('beit3.encoder.layers.0.ffn.A.fc1.weight', f32([256, 32])), 'x.pth: beit3.encoder.layers.0.ffn.A.fc1.weight: shape [256, 32], expected [*, 64]');
    refused((sd) => sd.set('beit3.vision_embed.cls_token', f32([64])), 'x.pth: beit3.vision_embed.cls_token: shape [64], expected [1, 1, 64]');
    refused((sd) => sd.delete('beit3.encoder.layers.3.ffn.A.fc2.weight'), 'x.pth: block 3 of 4 is incomplete: no beit3.encoder.layers.3.ffn.A.fc2.weight');
    refused((sd) => sd.set('beit3.encoder.embed_positions.A.weight', f32([18, 64])), 'x.pth: beit3.encoder.embed_positions.A.weight: shape [18, 64]: a position table has 3 + a square number of rows');
    refused((sd) => sd.set('beit3.encoder.layers.0.self_attn.k_proj.A.bias', { dtype: 'int32', shape: [64], data: new Int32Array(64) }), 'x.pth: beit3.encoder.layers.0.self_attn.k_proj.A.bias: dtype int32, expected a floating-point tensor');
  });

  it('a checkpoint holding only the patch embedding is refused, not converted to an encoder of depth 0', async () => {
    const sd = new Map([...official()].filter(([k]) => k.startsWith('beit3.vision_embed.') || k.startsWith('beit3.encoder.embed_positions.')));
    const only = join(dir, 'embed-only.pth');
    writeTorchCheckpoint(only, sd);
    const out = join(dir, 'embed-only.safetensors');
    const r = await cli(['convert', 'beit3', only, out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`densekit: error: ${only}: holds no transformer blocks`);
    expect(existsSync(out)).toBe(false);
  });

  it('pretrained weights with fewer blocks than the model are refused, not left half initialised', () => {
    const { tensors } = readBeit3Weights(PTH);
    const shallow = new Map([...tensors].filter(([k]) => !k.startsWith('blocks.3.')));
    const tiny = BEIT3_SIZES.tiny;
    const enc = new Beit3Encoder({ ...tiny, patchSize: 16, pretrainImgSize: 64, layernormEps: 1e-5, dropPathRate: 0, windowSize: 0, useRelPos: false, relPosGlobalGrid: 4, clsToken: true, finalNorm: true });
    try {
      expect(() => loadBeit3Weights(enc, shallow, 'shallow.safetensors')).toThrow('shallow.safetensors: holds 3 transformer blocks, the model 4');
      const partial = new Map([...tensors].filter(([k]) => k !== 'blocks.2.ffn.fc1.weight'));
      expect(() => loadBeit3Weights(enc, partial, 'partial.safetensors')).toThrow('partial.safetensors: lacks blocks.2.ffn.fc1.weight');
      expect(loadBeit3Weights(enc, tensors, 'full').initialised).toEqual([]);
    } finally {
      enc.dispose();
    }
  });
});

describe('config: an error a --set caused names the --set, not the YAML file', () => {
  it('a stage the YAML makes valid, broken by an override of a key its rule ties to', async () => {
    const cfg = join(dir, 'staged.yaml');
    writeFileSync(cfg, 'input:\n  min_scale: 0.5\nstages:\n  - name: a\n    input:\n      min_scale: 2\n');
    const r = await cli(['config', 'show', '-c', cfg, '--stage', 'a', '--set', 'input.max_scale=1.5']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('densekit: error: --set input.max_scale=1.5: stages.a.input.min_scale: must not exceed input.max_scale (1.5)\n');
  });
});

describe('exit 1 is for bugs only', () => {
  const run = async (fn: () => void): Promise<{ code: number | undefined; stderr: string }> => {
    const saved = process.exitCode;
    const write = process.stderr.write.bind(process.stderr);
    let stderr = '';
    process.stderr.write = ((s: string) => {
      stderr += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      await action(fn)();
      return { code: process.exitCode as number | undefined, stderr };
    } finally {
      process.stderr.write = write;
      process.exitCode = saved;
    }
  };

  it('a file-system error about a path is bad input (exit 2) in one line naming the path; anything else is an internal error (exit 1)', async () => {
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/x/out.json'"), { code: 'EACCES', path: '/x/out.json', syscall: 'open' });
    expect(systemErrorLine(eacces)).toBe('/x/out.json: cannot open: permission denied (EACCES)');
    const fs = await run(() => {
      throw eacces;
    });
    expect(fs).toEqual({ code: 2, stderr: 'densekit: error: /x/out.json: cannot open: permission denied (EACCES)\n' });
    const bug = await run(() => {
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    });
    expect(bug.code).toBe(1);
    expect(bug.stderr).toMatch(/^densekit: internal error: Cannot read properties of undefined \(reading 'x'\)\ndensekit: this is a bug in densekit/);
  });
});
