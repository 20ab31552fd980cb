/**
 * GPU check: the WebGPU adapter and its limits; BEiT-3 base and large ViTDet
 * forward at 1024²; one base Mask R-CNN training step at 1024² (forward,
 * backward, AdamW) with its peak GPU memory. Randomly initialised weights.
 *
 *   bench/gpu-check.sh [--img 1024] [--runs 3] [--sizes base,large] [--train 1] [--json out.json] [--allow-software]
 *
 * Runs from the sources (tsx) where node_modules exists, or from the bundle
 * `bench/gpu-check.sh --pack` writes (for a machine without node_modules or
 * network). Exit status 2 when there is no usable adapter.
 */
import { writeFileSync } from 'node:fs';
import { tf } from '../src/engine/tf.js';
import { describeBackend, switchBackend, backendInfo } from '../src/engine/backend.js';
import { adapterWords, gpuFinish, gpuMemory, probeAdapter, resetGpuPeak, webGpuBackend } from '../src/engine/webgpu/index.js';
import { buildEncoder } from '../src/backbone/vitdet.js';
import { loadConfig } from '../src/config/load.js';
import { isDetectorConfig } from '../src/config/schema.js';
import { GeneralizedRCNN } from '../src/detection/rcnn.js';
import { synthShapesImage } from '../src/data/synthetic-shapes.js';
import { Rng } from '../src/engine/random.js';
import { buildParamSpecs } from '../src/train/param-groups.js';
import { lossAndGradients } from '../src/train/step.js';
import { AdamW } from '../src/train/adamw.js';
import { backbonePreset } from './lib/presets.js';
import { arg } from './lib/args.js';
import { machine, median, printTable } from './lib/table.js';

const MiB = 2 ** 20;
const img = Number(arg('img', '1024'));
const runs = Number(arg('runs', '3'));
const sizes = arg('sizes', 'base,large').split(',').filter(Boolean) as ('base' | 'large')[];
const trainIters = Number(arg('train', '1'));
const onnxRuns = Number(arg('onnx', '2'));
const jsonOut = arg('json', '');
const allowSoftware = process.argv.includes('--allow-software') || process.env.DENSEKIT_BACKEND === 'webgpu';

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

async function timed(f: () => void): Promise<number> {
  const t0 = performance.now();
  f();
  await gpuFinish();
  return performance.now() - t0;
}

/** The base Mask R-CNN config at the check's size (random weights). */
function baseMaskRcnnConfig(extra: string[] = []) {
  const { config } = loadConfig('configs/coco/mask_rcnn_vitdet_beit3_base.yaml', ['model.backbone.pretrained=null', `input.train_size=${img}`, `input.test_size=${img}`, `input.square_pad=${img}`, ...extra]);
  if (!isDetectorConfig(config)) throw new Error('not a detector config');
  return config;
}

/** The synthetic scene every detector row runs on. */
function benchScene() {
  return synthShapesImage(new Rng(7), { width: img, height: img, minObjects: 6, maxObjects: 10, minSize: 0.05, maxSize: 0.3, colors: 'class' });
}

async function main(): Promise<void> {
  const probe = probeAdapter(60_000);
  if (!probe.adapter) {
    log(`gpu-check: no WebGPU adapter: ${probe.error}`);
    log('On Linux, Dawn needs the Vulkan loader (libvulkan1) and the GPU vendor\'s Vulkan driver (NVIDIA: the driver\'s ICD, nvidia_icd.json; no CUDA toolkit is needed).');
    process.exit(2);
  }
  if (probe.adapter.software && !allowSoftware) {
    log(`gpu-check: only a software adapter was found (${adapterWords(probe.adapter)}); pass --allow-software to measure it anyway.`);
    process.exit(2);
  }
  await switchBackend('webgpu');
  const info = backendInfo()!;
  console.log(describeBackend(info));
  console.log(`machine: ${machine()}`);
  console.log('limits:');
  for (const [k, v] of Object.entries(info.gpu!.limits)) console.log(`  ${k.padEnd(36)} ${v >= MiB ? `${v} (${(v / MiB).toFixed(0)} MiB)` : v}`);
  const result: Record<string, unknown> = { adapter: info.gpu!.adapter, limits: info.gpu!.limits, img, machine: machine() };
  const rows: (string | number)[][] = [];

  const x = tf.randomNormal([1, img, img, 3], 0, 1, 'float32', 1);
  for (const size of sizes) {
    log(`BEiT-3-${size} ViTDet forward at ${img}²`);
    const enc = buildEncoder(backbonePreset(size), img).eval();
    const once = () => tf.tidy(() => void enc.forward(x).map);
    resetGpuPeak();
    const first = await timed(once);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) times.push(await timed(once));
    const mem = gpuMemory()!;
    enc.dispose();
    webGpuBackend()?.trimPool();
    result[`forward_${size}`] = { firstMs: first, ms: times, peakLiveBytes: mem.peakLive, peakAllocatedBytes: mem.peakAllocated };
    rows.push([`BEiT-3-${size} ViTDet forward`, `${img}²`, (first / 1000).toFixed(2), runs ? (median(times) / 1000).toFixed(3) : '-', gib(mem.peakAllocated)]);
  }
  x.dispose();

  if (trainIters > 0) {
    log(`Mask R-CNN (BEiT-3-base) training step at ${img}²`);
    const config = baseMaskRcnnConfig();
    const net = new GeneralizedRCNN(config.model, config.input, 0).train();
    const scene = benchScene();
    const image = { data: scene.rgb, width: img, height: img };
    const gt = {
      boxes: Float32Array.from(scene.objects.flatMap((o) => [o.bbox[0], o.bbox[1], o.bbox[0] + o.bbox[2], o.bbox[1] + o.bbox[3]])),
      classes: Int32Array.from(scene.objects.map((o) => o.classIndex)),
      masks: scene.objects.map((o) => ({ kind: 'rle' as const, rle: o.rle })),
    };
    const specs = buildParamSpecs(net, config.train.optimizer);
    const opt = new AdamW(specs, { betas: config.train.optimizer.betas, eps: config.train.optimizer.eps });
    const step = () => {
      const list = net.preprocess([image], 'train');
      const { grads } = lossAndGradients(() => net.losses(list, [gt]), specs);
      opt.apply(grads, 1e-5);
      for (const g of grads.values()) g.dispose();
      list.tensor.dispose();
    };
    resetGpuPeak();
    const first = await timed(step);
    const firstMem = gpuMemory()!;
    const times: number[] = [];
    resetGpuPeak();
    const b = webGpuBackend()!;
    const [reads0, readMs0] = [b.syncReads, b.syncReadMs];
    for (let r = 0; r < trainIters; r++) times.push(await timed(step));
    const mem = gpuMemory()!;
    const peak = Math.max(mem.peakAllocated, firstMem.peakAllocated);
    const perStep = (v: number) => (trainIters ? v / trainIters : 0);
    result.train_step_base = {
      firstMs: first,
      ms: times,
      peakLiveBytes: Math.max(mem.peakLive, firstMem.peakLive),
      peakAllocatedBytes: peak,
      syncReadsPerStep: perStep(b.syncReads - reads0),
      syncReadMsPerStep: perStep(b.syncReadMs - readMs0),
    };
    if (trainIters) log(`  ${perStep(b.syncReads - reads0).toFixed(0)} synchronous reads per step, ${perStep(b.syncReadMs - readMs0).toFixed(0)} ms in them (waiting for the GPU included)`);
    rows.push(['Mask R-CNN base train step (fwd+bwd+AdamW)', `${img}²`, (first / 1000).toFixed(2), times.length ? (median(times) / 1000).toFixed(3) : '-', gib(peak)]);
  }
  if (onnxRuns > 0) {
    log(`Mask R-CNN (BEiT-3-base) inference at ${img}² on onnxruntime's WebGPU provider`);
    const { loadOnnxRuntime } = await import('../src/engine/onnx/session.js');
    const ort = await loadOnnxRuntime();
    if (!ort.ok) {
      log(`  skipped: onnxruntime-node cannot be loaded (${ort.reason})`);
      rows.push(['Mask R-CNN base inference, onnxruntime WebGPU', `${img}²`, 'skipped', '-', '-']);
    } else {
      const { OnnxDetectorEngine } = await import('../src/tasks/detection/onnx-engine.js');
      const { mkdtempSync, rmSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const config = baseMaskRcnnConfig(['model.test.score_thresh=0']);
      const net = new GeneralizedRCNN(config.model, config.input, 0).eval();
      const scene = benchScene();
      const list = net.preprocess([{ data: scene.rgb, width: img, height: img }], 'test');
      const dir = mkdtempSync(join(tmpdir(), 'dk-gpu-onnx-'));
      const engine = new OnnxDetectorEngine(net, dir, { device: 'webgpu' });
      try {
        // The first image traces the graphs (on this tfjs backend) and loads them.
        let t0 = performance.now();
        await engine.detect(list);
        const first = performance.now() - t0;
        const times: number[] = [];
        for (let r = 0; r < onnxRuns; r++) {
          t0 = performance.now();
          await engine.detect(list);
          times.push(performance.now() - t0);
        }
        result.onnx_webgpu_mask_rcnn_base = { firstMs: first, ms: times };
        rows.push(['Mask R-CNN base inference, onnxruntime WebGPU (whole image)', `${img}²`, (first / 1000).toFixed(2), (median(times) / 1000).toFixed(3), '-']);
      } finally {
        await engine.dispose();
        list.tensor.dispose();
        net.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  printTable(
    `GPU check on ${adapterWords(info.gpu!.adapter)} (first run includes shader compilation; then median of ${runs} forward / ${trainIters} training runs)`,
    ['what', 'input', 'first s', 'steady s', 'peak GPU buffers'],
    rows,
  );
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(result, null, 2)}\n`);
}

try {
  await main();
} catch (err) {
  log(`gpu-check failed: ${(err as Error).message}`);
  process.exit(1);
}
