/**
 * Segmentation benchmark: BEiT-3 + ViT-Adapter + Mask2Former (the ADE20K
 * 896 config, base by default) on the default backend. Sliding-window
 * inference (`predictSemantic`, what `densekit predict --task semantic`
 * runs) on one synthetic image whose shorter side is the test size (ADE20K
 * images are landscape: 896 x 1195 gives two 896² windows at stride 512),
 * and one window alone split by stage (backbone with the adapter, pixel
 * decoder, masked-attention decoder, class scores), with each stage's peak
 * tensor memory and the heap on wasm. With `--engines tfjs,onnx` the same
 * image also goes through the ONNX engine (the crop → scores graph, traced
 * on the first image, on onnxruntime-node with every core), each engine in
 * its own process. Randomly initialised weights: time and memory do not
 * depend on their values.
 *   npm run bench:segmentation [-- --size base --crop 896 --width 1195 --runs 2 --engines tfjs,onnx]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';

const STAGES = ['backbone', 'pixel decoder', 'transformer decoder', 'class scores'] as const;

interface ChildResult {
  backend: string;
  engine: string;
  /** onnx: the first image, which traces the graph and loads it. */
  firstImage?: number;
  windows: number;
  weightsMb: number;
  image: number[];
  /** Per stage of one window: seconds per run, peak tensor MB, heap MB after it (wasm). */
  stages: Record<string, { s: number[]; peakMb?: number; heapMb?: number }>;
  /** wasm: peak tensor MB over a whole image, and the heap at the end. */
  imagePeakMb?: number;
  heapMb?: number;
  maxRssMb: number;
  /** Why the image could not be segmented (a memory refusal). */
  error?: string;
}

async function child(size: string, crop: number, width: number, runs: number, engineName: string): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.js');
  const { tf } = await import('../src/engine/tf.js');
  const { loadConfig } = await import('../src/config/load.js');
  const { isSegmenterConfig } = await import('../src/config/schema.js');
  const { Mask2Former } = await import('../src/segmentation/mask2former.js');
  const { predictSemantic } = await import('../src/tasks/semantic/predict.js');
  const { Rng } = await import('../src/engine/random.js');
  const { wasmHeapStats, wasmStageStats, resetWasmStageStats, resetWasmPeak, WasmOutOfMemoryError } = await import('../src/engine/wasm-memory.js');
  const info = await initBackend();
  const { config } = loadConfig(`configs/ade20k/mask2former_beit3_adapter_${size}_896.yaml`, [
    'model.backbone.pretrained=null',
    `model.test.crop_size=${crop}`,
    `input.train_size=${crop}`,
    `input.test_size=${crop}`,
  ]);
  if (!isSegmenterConfig(config)) throw new Error('not a segmenter config');
  const model = new Mask2Former(config.model, config.input, 0).eval();
  const mb = (n: number) => Math.round(n / 2 ** 20);
  const rng = new Rng(5);
  const data = new Uint8Array(crop * width * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256);
  const image = { data, width, height: crop };
  const t = config.model.test;
  const windows = Math.floor(Math.max(width - crop + t.stride - 1, 0) / t.stride) + 1;

  const res: ChildResult = { backend: info.name, engine: engineName, windows, weightsMb: mb(tf.memory().numBytes), image: [], stages: {}, maxRssMb: 0 };
  for (const s of STAGES) res.stages[s] = { s: [] };
  if (engineName === 'onnx') {
    const { OnnxSegmenterEngine } = await import('../src/tasks/semantic/onnx-engine.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'dk-bench-seg-'));
    const engine = new OnnxSegmenterEngine(model, dir);
    try {
      for (let r = 0; r <= runs; r++) {
        const t0 = performance.now();
        await predictSemantic(model, image, config.input, t, engine);
        const s = (performance.now() - t0) / 1000;
        if (r === 0) res.firstImage = s;
        else res.image.push(s);
      }
    } catch (err) {
      // Tracing runs the model once on wasm: a model that does not fit there cannot be traced there either.
      if (!(err instanceof WasmOutOfMemoryError)) throw err;
      res.error = `tracing on wasm: ${err.message}`;
    } finally {
      await engine.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
    res.maxRssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(JSON.stringify(res));
    return;
  }
  try {
    // One window, by stage (the first run warms up).
    const x = tf.randomNormal([1, crop, crop, 3], 0, 1, 'float32', 1);
    for (let r = 0; r <= runs; r++) {
      resetWasmStageStats();
      model.semanticScores(x).dispose();
      if (r === 0) continue;
      for (const s of STAGES) {
        const st = wasmStageStats().get(s);
        if (!st) continue;
        res.stages[s]!.s.push(st.ms / 1000);
        res.stages[s]!.peakMb = mb(st.peakTensorBytes);
        res.stages[s]!.heapMb = mb(st.heapBytes);
      }
    }
    x.dispose();
    // The whole image, as `densekit predict` segments it.
    resetWasmPeak();
    for (let r = 0; r <= runs; r++) {
      const t0 = performance.now();
      await predictSemantic(model, image, config.input, t);
      if (r > 0) res.image.push((performance.now() - t0) / 1000);
    }
    const heap = wasmHeapStats();
    if (heap) {
      res.imagePeakMb = mb(heap.peakTensorBytes);
      res.heapMb = mb(heap.heapBytes);
    }
  } catch (err) {
    if (!(err instanceof WasmOutOfMemoryError)) throw err;
    res.error = err.message;
  }
  res.maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(res));
}

async function main(): Promise<void> {
  const size = arg('size', 'base');
  const crop = Number(arg('crop', '896'));
  const width = Number(arg('width', String(Math.round((crop * 4) / 3))));
  const runs = Number(arg('runs', '2'));
  const engines = arg('engines', 'tfjs,onnx').split(',');
  const results: ChildResult[] = [];
  for (const engine of engines) {
    process.stderr.write(`${engine}…\n`);
    const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', size, String(crop), String(width), String(runs), engine], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (p.status !== 0) throw new Error(`child (${engine}) failed: ${p.stderr}`);
    results.push(JSON.parse(p.stdout) as ChildResult);
  }
  const s = (v: number[]) => (v.length ? median(v).toFixed(2) : '-');
  const model = `BEiT-3 ${size}`;
  printTable(
    `Mask2Former + ViT-Adapter semantic inference (median of ${runs}) — ${machine()}`,
    ['model', 'image', 'engine', 'windows', 'per image s', 'first image s', 'image: peak tensors MB', 'heap MB', 'peak RSS MB'],
    results.map((r) => [
      model,
      `${crop}x${width}`,
      r.engine === 'onnx' ? 'onnx (onnxruntime-node)' : `tfjs ${r.backend}`,
      r.windows,
      s(r.image),
      r.firstImage !== undefined ? r.firstImage.toFixed(2) : '-',
      r.imagePeakMb ?? '-',
      r.heapMb ?? '-',
      r.maxRssMb.toFixed(0),
    ]),
  );
  const wasm = results.find((r) => r.engine !== 'onnx');
  if (wasm) {
    printTable(
      `One ${crop}² window on tfjs by stage: seconds, peak MB of tensors (weights ${wasm.weightsMb} MB included) / MB the wasm heap had grown to (at most 3840 MB)`,
      ['model', ...STAGES.flatMap((k) => [`${k} s`, `${k} MB`])],
      [[model, ...STAGES.flatMap((k) => {
        const st = wasm.stages[k]!;
        return [s(st.s), st.peakMb !== undefined ? `${st.peakMb} / ${st.heapMb}` : '-'];
      })]],
    );
  }
  for (const r of results) if (r.error) console.log(`\n${model} at ${crop}x${width} on ${r.engine}: ${r.error}`);
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  const a = process.argv.slice(i + 1);
  await child(a[0]!, Number(a[1]), Number(a[2]), Number(a[3]), a[4] ?? 'tfjs');
} else await main();
