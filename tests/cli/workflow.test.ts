import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { readLabelMap } from '../../src/io/image.js';

/**
 * The commands a user chains, run as the installed CLI would run them:
 * synthesize data → train (a few steps) → predict → evaluate → draw.
 * Quality is not the point here (the demo and the training tests cover
 * learning); the point is that each command's output is the next one's input.
 */

function ok(r: { status: number | null; stdout: string; stderr: string }): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

describe('detector workflow', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-wf-det-'));
    // Traced graphs go here, not into the user's cache.
    process.env.DENSEKIT_CACHE = join(dir, 'cache');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('synth → train → predict → eval coco → eval model (both engines) → export onnx → visualize', () => {
    const data = join(dir, 'data');
    ok(runCli(['data', 'synth', '--out', data, '--images', '4', '--val-images', '3', '--size', '96']));
    const sets = [
      `data.train.images=${join(data, 'train')}`,
      `data.train.annotations=${join(data, 'annotations', 'instances_train.json')}`,
      `data.val.images=${join(data, 'val')}`,
      `data.val.annotations=${join(data, 'annotations', 'instances_val.json')}`,
      'train.max_iter=2',
      'train.ims_per_batch=2',
      'train.checkpoint_period=2',
      'input.train_size=96',
      'input.test_size=96',
      'input.square_pad=96',
    ].flatMap((s) => ['--set', s]);
    const run = join(dir, 'run');
    const trained = ok(runCli(['train', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-o', run, ...sets], { timeoutMs: 300_000 }));
    expect(trained).toMatch(/weights .*model_final\.safetensors/);
    const weights = join(run, 'model_final.safetensors');
    expect(existsSync(weights)).toBe(true);

    const results = join(dir, 'results.json');
    const gt = join(data, 'annotations', 'instances_val.json');
    const predicted = runCli(['predict', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '-i', join(data, 'val'), '--gt', gt, '-o', results, ...sets]);
    ok(predicted);
    expect(predicted.stderr).toMatch(/^engine: onnx \(/m);
    const dets = JSON.parse(readFileSync(results, 'utf8')) as { image_id: number; category_id: number; bbox: number[]; segmentation: { counts: string } }[];
    const gtJson = JSON.parse(readFileSync(gt, 'utf8')) as { images: { id: number }[]; categories: { id: number }[] };
    const imageIds = new Set(gtJson.images.map((i) => i.id));
    const catIds = new Set(gtJson.categories.map((c) => c.id));
    for (const d of dets) {
      expect(imageIds.has(d.image_id)).toBe(true);
      expect(catIds.has(d.category_id)).toBe(true);
      expect(d.bbox).toHaveLength(4);
      expect(typeof d.segmentation.counts).toBe('string');
    }

    const wrongTask = runCli(['predict', '--task', 'semantic', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '-i', join(data, 'val'), '-o', join(dir, 'x')]);
    expect(wrongTask.status).toBe(2);
    expect(wrongTask.stderr).toMatch(/model\.arch/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
    const intoFolder = runCli(['predict', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '-i', join(data, 'val'), '-o', data, ...sets]);
    expect(intoFolder.status).toBe(2);
    expect(intoFolder.stderr).toContain(`${data}: is a folder; a detector writes its results to a JSON file`);

    const summary = ok(runCli(['eval', 'coco', '--gt', gt, '--dt', results, '--iou-type', 'segm']));
    expect(summary.split('\n').filter((l) => l.includes('Average Precision'))).toHaveLength(6);

    const json = join(dir, 'model-metrics.json');
    ok(runCli(['eval', 'model', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '--json', json, ...sets]));
    const metrics = JSON.parse(readFileSync(json, 'utf8')) as { bbox: number[]; segm: number[] };
    expect(metrics.bbox).toHaveLength(12);
    expect(metrics.segm).toHaveLength(12);
    // The same numbers with every stage on tfjs.
    const jsonTfjs = join(dir, 'model-metrics-tfjs.json');
    const onTfjs = runCli(['eval', 'model', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '--engine', 'tfjs', '--json', jsonTfjs, ...sets]);
    ok(onTfjs);
    expect(onTfjs.stderr).toMatch(/^engine: tfjs \(asked for/m);
    const tfjsMetrics = JSON.parse(readFileSync(jsonTfjs, 'utf8')) as { bbox: number[]; segm: number[] };
    tfjsMetrics.bbox.forEach((v, i) => expect(Math.abs(v - metrics.bbox[i]!), `bbox stat ${i}`).toBeLessThan(1e-3));
    tfjsMetrics.segm.forEach((v, i) => expect(Math.abs(v - metrics.segm[i]!), `segm stat ${i}`).toBeLessThan(1e-3));

    const exported = join(dir, 'onnx');
    ok(runCli(['export', 'onnx', '-c', 'configs/demo/mask_rcnn_tiny_synth.yaml', '-w', weights, '-o', exported, ...sets]));
    const manifest = JSON.parse(readFileSync(join(exported, 'manifest.json'), 'utf8')) as { graphs: { file: string; inputs: { shape: number[] }[]; outputs: { name: string }[] }[] };
    expect(manifest.graphs[0]!.inputs[0]!.shape).toEqual([1, 96, 96, 3]);
    expect(manifest.graphs[0]!.outputs.map((o) => o.name)).toContain('rpn_logits_p3');
    // The heads too, each pooling from the pyramid in its graph.
    expect(manifest.graphs.map((g) => g.file)).toEqual(['detector_dense.onnx', 'box_head_0.onnx', 'mask_head.onnx']);
    const boxHead = manifest.graphs[1]! as unknown as { inputs: { name: string; shape: number[] }[]; rows: number; pooler: { levels: { name: string }[] } };
    const levels = boxHead.pooler.levels.map((l) => l.name);
    expect(levels.length).toBeGreaterThan(0);
    expect(boxHead.inputs.map((i) => i.name)).toEqual([...levels, ...levels.map((l) => `rois_${l}`), 'batch_index']);
    expect(boxHead.inputs[levels.length]!.shape).toEqual([boxHead.rows, 4]);
    for (const g of manifest.graphs) expect(existsSync(join(exported, g.file)), g.file).toBe(true);
    expect(existsSync(join(exported, 'run_onnx.py'))).toBe(true);

    const vis = join(dir, 'vis');
    ok(runCli(['visualize', '--images', join(data, 'val'), '--dt', results, '--gt', gt, '-o', vis, '--score-thr', '0']));
    expect(readdirSync(vis).filter((f) => f.endsWith('.png')).length).toBe(3);
  }, 600_000);
});

describe('segmenter workflow', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-wf-seg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('synth → train → predict label maps → eval ade20k → eval model (same numbers, both engines) → visualize', async () => {
    const data = join(dir, 'data');
    ok(runCli(['data', 'synth', '--kind', 'semantic', '--out', data, '--images', '4', '--val-images', '3', '--size', '64']));
    const sets = [
      `data.train.images=${join(data, 'images', 'training')}`,
      `data.train.annotations=${join(data, 'annotations', 'training')}`,
      `data.val.images=${join(data, 'images', 'validation')}`,
      `data.val.annotations=${join(data, 'annotations', 'validation')}`,
      'train.max_iter=2',
      'train.ims_per_batch=2',
      'train.checkpoint_period=2',
      'input.train_size=64',
      'input.test_size=64',
    ].flatMap((s) => ['--set', s]);
    const cfg = 'configs/demo/mask2former_adapter_tiny_synth.yaml';
    const run = join(dir, 'run');
    ok(runCli(['train', '-c', cfg, '-o', run, ...sets], { timeoutMs: 300_000 }));
    const weights = join(run, 'model_final.safetensors');

    const preds = join(dir, 'pred');
    const out = ok(runCli(['predict', '--task', 'semantic', '-c', cfg, '-w', weights, '-i', join(data, 'images', 'validation'), '-o', preds, ...sets]));
    expect(out).toMatch(/3 label maps/);
    const names = readdirSync(preds).sort();
    expect(names).toEqual(readdirSync(join(data, 'annotations', 'validation')).sort());

    const fromFiles = join(dir, 'files.json');
    ok(runCli(['eval', 'ade20k', '--gt-dir', join(data, 'annotations', 'validation'), '--pred-dir', preds, '--num-classes', '5', '--reduce-zero-label', '--json', fromFiles]));
    const fromModel = join(dir, 'model.json');
    ok(runCli(['eval', 'model', '-c', cfg, '-w', weights, '--json', fromModel, ...sets]));
    const a = JSON.parse(readFileSync(fromFiles, 'utf8')) as { mIoU: number; aAcc: number; images: number };
    const b = JSON.parse(readFileSync(fromModel, 'utf8')) as { mIoU: number; aAcc: number; images: number };
    // Writing label maps to PNG and reading them back loses nothing.
    expect(b.images).toBe(3);
    expect(a.mIoU).toBe(b.mIoU);
    expect(a.aAcc).toBe(b.aAcc);

    // Both engines: onnx (the default when it loads) and tfjs give the same label maps and metrics.
    const predsTfjs = join(dir, 'pred-tfjs');
    const onTfjs = runCli(['predict', '--task', 'semantic', '-c', cfg, '-w', weights, '-i', join(data, 'images', 'validation'), '-o', predsTfjs, '--engine', 'tfjs', ...sets]);
    expect(onTfjs.status, onTfjs.stderr).toBe(0);
    expect(onTfjs.stderr).toMatch(/^engine: tfjs \(asked for/m);
    let same = 0;
    let total = 0;
    for (const n of names) {
      const [p, q] = await Promise.all([readLabelMap(join(preds, n)), readLabelMap(join(predsTfjs, n))]);
      for (let i = 0; i < p.data.length; i++) same += p.data[i] === q.data[i] ? 1 : 0;
      total += p.data.length;
    }
    expect(same / total).toBeGreaterThanOrEqual(0.999);
    const modelTfjs = join(dir, 'model-tfjs.json');
    ok(runCli(['eval', 'model', '-c', cfg, '-w', weights, '--engine', 'tfjs', '--json', modelTfjs, ...sets]));
    const c = JSON.parse(readFileSync(modelTfjs, 'utf8')) as { mIoU: number; aAcc: number };
    expect(Math.abs(c.mIoU - b.mIoU)).toBeLessThan(1e-3);
    expect(Math.abs(c.aAcc - b.aAcc)).toBeLessThan(1e-3);

    const exported = join(dir, 'onnx');
    ok(runCli(['export', 'onnx', '-c', cfg, '-w', weights, '-o', exported, ...sets]));
    const manifest = JSON.parse(readFileSync(join(exported, 'manifest.json'), 'utf8')) as { task: string; graphs: { file: string; inputs: { shape: number[] }[]; outputs: { name: string; shape: number[] }[] }[] };
    expect(manifest.task).toBe('semantic');
    expect(manifest.graphs[0]!.inputs[0]!.shape).toEqual([1, 64, 64, 3]);
    expect(manifest.graphs[0]!.outputs).toEqual([
      { name: 'scores', dtype: 'float32', shape: [1, 64, 64, 5], layout: 'NHWC' },
      { name: 'class_logits', dtype: 'float32', shape: [1, 12, 6] },
      { name: 'mask_logits', dtype: 'float32', shape: [1, 12, 16, 16] },
    ]);
    expect(existsSync(join(exported, manifest.graphs[0]!.file))).toBe(true);
    expect(existsSync(join(exported, 'run_onnx.py'))).toBe(true);

    const vis = join(dir, 'vis');
    ok(runCli(['visualize', '--semantic', '--images', join(data, 'images', 'validation'), '--pred-dir', preds, '--gt-dir', join(data, 'annotations', 'validation'), '--reduce-zero-label', '-o', vis]));
    expect(readdirSync(vis).filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(3);
  }, 600_000);
});
