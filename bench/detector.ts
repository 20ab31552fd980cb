/**
 * Detector benchmark: ViTDet Mask R-CNN / Cascade Mask R-CNN with a BEiT-3
 * backbone (base by default) at 1024x1024 on the default backend.
 *  - inference per image, split by stage (backbone + pyramid, RPN, ROI heads,
 *    mask paste + RLE), on a synthetic image; the score threshold is 0 so the
 *    box and mask heads do the work of a trained model (100 detections);
 *  - the same inference on the ONNX engine (`--engines tfjs,onnx`): the
 *    backbone and the ROI heads as traced graphs on onnxruntime-node; its
 *    first image traces them (the export time);
 *  - one training iteration (forward, backward, AdamW) at batch 1;
 *  - on wasm, each inference stage's peak tensor memory and the heap it grew to.
 *  Inference and training run in separate processes. A model that does not
 *  fit the wasm heap (e.g. training base or large: weights + AdamW moments +
 *  activations) is reported as "does not fit", with the reason below the table.
 * Randomly initialised weights: time does not depend on their values.
 *   npm run bench:detector [-- --models mask_rcnn,cascade --size base --img 1024 --runs 2 --train 1 --engines tfjs,onnx]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';


interface ChildResult {
  backend: string;
  exportMs?: number;
  stages: Record<string, number[]>;
  trainMs: number[];
  maxRssMb: number;
  detections: number;
  /** wasm: each inference stage's peak tensor MB and the heap (MB) after it; the heap at the end. */
  memory?: { stages: Record<string, { peakMb: number; heapMb: number }>; heapMb: number; weightsMb: number };
  /** Why inference or training could not run (it does not fit the backend's memory). */
  inferError?: string;
  trainError?: string;
}

const CONFIGS = {
  mask_rcnn: 'configs/coco/mask_rcnn_vitdet_beit3',
  cascade: 'configs/coco/cascade_mask_rcnn_vitdet_beit3',
} as const;

async function child(model: keyof typeof CONFIGS, size: string, img: number, runs: number, trainIters: number, engineName = 'tfjs'): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.js');
  const { tf } = await import('../src/engine/tf.js');
  const { loadConfig } = await import('../src/config/load.js');
  const { isDetectorConfig } = await import('../src/config/schema.js');
  const { GeneralizedRCNN } = await import('../src/detection/rcnn.js');
  const { toCocoResults } = await import('../src/detection/postprocess.js');
  const { synthShapesImage } = await import('../src/data/synthetic-shapes.js');
  const { Rng } = await import('../src/engine/random.js');
  const { buildParamSpecs } = await import('../src/train/param-groups.js');
  const { lossAndGradients } = await import('../src/train/step.js');
  const { AdamW } = await import('../src/train/adamw.js');
  const { wasmHeapStats, wasmStageStats, resetWasmStageStats, memoryStage, WasmOutOfMemoryError } = await import('../src/engine/wasm-memory.js');
  const info = await initBackend();

  const { config } = loadConfig(`${CONFIGS[model]}_${size}.yaml`, [
    'model.backbone.pretrained=null',
    'model.test.score_thresh=0',
    `input.train_size=${img}`,
    `input.test_size=${img}`,
    `input.square_pad=${img}`,
  ]);
  if (!isDetectorConfig(config)) throw new Error('not a detector config');
  const net = new GeneralizedRCNN(config.model, config.input, 0);
  const weightsMb = tf.memory().numBytes / 2 ** 20;
  const scene = synthShapesImage(new Rng(7), { width: img, height: img, minObjects: 6, maxObjects: 10, minSize: 0.05, maxSize: 0.3, colors: 'class' });
  const image = { data: scene.rgb, width: img, height: img };

  // Inference, stage by stage: each stage's outputs are read back before the next starts.
  net.eval();
  const { OnnxDetectorEngine } = await import('../src/tasks/detection/onnx-engine.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const graphDir = engineName === 'onnx' ? mkdtempSync(join(tmpdir(), 'dk-bench-det-')) : undefined;
  const engine = graphDir ? new OnnxDetectorEngine(net, graphDir) : undefined;
  const stages: Record<string, number[]> = { backbone: [], rpn: [], roi_heads: [], postprocess: [], total: [] };
  let detections = 0;
  const inferOnce = async (record: boolean) => {
    const list = net.preprocess([image], 'test');
    const t0 = performance.now();
    // Node's backends (wasm, cpu, tfjs-node) run kernels synchronously: a stage ends when detect says so.
    let last = t0;
    const dets = engine
      ? await engine.detect(list)
      : await net.detect(list, (stage) => {
          const now = performance.now();
          if (record) stages[stage]!.push(now - last);
          last = now;
        });
    const t4 = performance.now();
    const coco = toCocoResults(dets[0]!, {
      imageId: 1,
      inputSize: [img, img],
      originalSize: [img, img],
      categoryIds: Array.from({ length: net.numClasses }, (_, i) => i + 1),
      maskThreshold: net.cfg.test.mask_threshold,
      masknessRescore: net.cfg.test.maskness_rescore,
    });
    const t5 = performance.now();
    list.tensor.dispose();
    detections = coco.length;
    if (record) {
      stages.postprocess!.push(t5 - t4);
      stages.total!.push(t5 - t0);
    }
  };
  process.stderr.write('inference\n');
  const tw = performance.now();
  let exportMs: number | undefined;
  let inferError: string | undefined;
  try {
    if (runs > 0) await inferOnce(false);
    exportMs = engine ? performance.now() - tw : undefined;
    resetWasmStageStats();
    for (let r = 0; r < runs; r++) await inferOnce(true);
  } catch (err) {
    // A model that does not fit the backend's memory at this size refuses clearly.
    if (!(err instanceof WasmOutOfMemoryError)) throw err;
    inferError = err.message;
  }
  const mb = (n: number) => Math.round(n / 2 ** 20);
  const heap = wasmHeapStats();
  const memory = heap && runs > 0 && !inferError
    ? {
        stages: Object.fromEntries([...wasmStageStats()].map(([k, v]) => [k, { peakMb: mb(v.peakTensorBytes), heapMb: mb(v.heapBytes) }])),
        heapMb: mb(heap.heapBytes),
        weightsMb: Math.round(weightsMb),
      }
    : undefined;
  if (engine) await engine.dispose();
  if (graphDir) rmSync(graphDir, { recursive: true, force: true });

  // Training iterations at batch 1 (the first one is a warm-up); the
  // optimizer's moments (twice the weights) only when training is asked for.
  const trainMs: number[] = [];
  let trainError: string | undefined;
  if (trainIters > 0) {
    process.stderr.write(`training; ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MB in tensors\n`);
    net.train();
    const gt = {
      boxes: Float32Array.from(scene.objects.flatMap((o) => [o.bbox[0], o.bbox[1], o.bbox[0] + o.bbox[2], o.bbox[1] + o.bbox[3]])),
      classes: Int32Array.from(scene.objects.map((o) => o.classIndex)),
      masks: scene.objects.map((o) => ({ kind: 'rle' as const, rle: o.rle })),
    };
    try {
      const specs = buildParamSpecs(net, config.train.optimizer);
      const opt = memoryStage('AdamW moments', () => new AdamW(specs, { betas: config.train.optimizer.betas, eps: config.train.optimizer.eps }));
      for (let it = 0; it <= trainIters; it++) {
        const list = net.preprocess([image], 'train');
        const t0 = performance.now();
        const { grads } = memoryStage('training step', () => lossAndGradients(() => net.losses(list, [gt]), specs));
        memoryStage('AdamW step', () => opt.apply(grads, 1e-5));
        for (const g of grads.values()) g.dispose();
        list.tensor.dispose();
        if (it > 0) trainMs.push(performance.now() - t0);
      }
    } catch (err) {
      // A model whose weights and AdamW moments do not fit refuses clearly.
      if (!(err instanceof WasmOutOfMemoryError)) throw err;
      trainError = err.message;
    }
  }
  const out: ChildResult = { backend: engine ? 'onnx' : info.name, exportMs, stages, trainMs, maxRssMb: process.resourceUsage().maxRSS / 1024, detections, memory, inferError, trainError };
  process.stdout.write(JSON.stringify(out));
}

async function main(): Promise<void> {
  const models = arg('models', 'mask_rcnn,cascade').split(',') as (keyof typeof CONFIGS)[];
  const size = arg('size', 'base');
  const img = Number(arg('img', '1024'));
  const runs = Number(arg('runs', '2'));
  const trainIters = Number(arg('train', '1'));
  const engines = arg('engines', 'tfjs').split(',');
  const rows: (string | number)[][] = [];
  const memRows: (string | number)[][] = [];
  const notes: string[] = [];
  for (const m of models) for (const engine of engines) {
    if (!(m in CONFIGS)) throw new Error(`unknown model ${m}; choose from ${Object.keys(CONFIGS).join(', ')}`);
    // Inference and training each in a fresh process: peak memory per task,
    // and neither inherits the other's wasm heap layout.
    const runChild = (inferRuns: number, iters: number): ChildResult => {
      const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', m, size, String(img), String(inferRuns), String(iters), engine], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
      return JSON.parse(p.stdout) as ChildResult;
    };
    const r = runs > 0 ? runChild(runs, 0) : undefined;
    const mem = (k: string) => (r?.memory?.stages[k] ? `${r.memory.stages[k]!.peakMb} / ${r.memory.stages[k]!.heapMb}` : '-');
    // Training runs on tfjs whatever the inference engine: once per model.
    const t = trainIters > 0 && engine === engines[0] ? runChild(0, trainIters) : undefined;
    const s = (k: string) => (r?.inferError ? 'does not fit' : r && r.stages[k]!.length ? (median(r.stages[k]!) / 1000).toFixed(2) : '-');
    rows.push([
      `${m} ${size}`,
      `${img}x${img}`,
      (r ?? t)!.backend,
      s('backbone'),
      s('rpn'),
      s('roi_heads'),
      s('postprocess'),
      s('total'),
      r?.exportMs ? (r.exportMs / 1000).toFixed(1) : '-',
      r ? r.detections : '-',
      r ? r.maxRssMb.toFixed(0) : '-',
      t ? (t.trainError ? 'does not fit' : (median(t.trainMs) / 1000).toFixed(1)) : '-',
      t ? t.maxRssMb.toFixed(0) : '-',
    ]);
    if (r?.memory) memRows.push([`${m} ${size}`, `${img}x${img}`, r.memory.weightsMb, mem('backbone'), mem('rpn'), mem('roi heads'), r.memory.heapMb]);
    if (r?.inferError) notes.push(`${m} ${size} inference: ${r.inferError}`);
    if (t?.trainError) notes.push(`${m} ${size} training: ${t.trainError}`);
  }
  printTable(
    `Detector inference per image (median of ${runs}) and one training iteration at batch 1 (median of ${trainIters}) — ${machine()}`,
    ['model', 'input', 'engine', 'backbone s', 'RPN s', 'ROI heads s', 'paste+RLE s', 'inference s', 'first image (traces) s', 'dets', 'inference peak RSS MB', 'train iter s', 'train peak RSS MB'],
    rows,
  );
  if (memRows.length) {
    printTable(
      'wasm heap during inference: per stage, peak MB of tensors / MB the heap had grown to (it never shrinks; beyond the tensors it holds the kernels\' packed weights and free fragments; at most 3840 MB)',
      ['model', 'input', 'weights MB', 'backbone', 'RPN', 'ROI heads', 'heap at end MB'],
      memRows,
    );
  }
  for (const n of notes) console.log(`\n${n}`);
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  const a = process.argv.slice(i + 1);
  await child(a[0] as keyof typeof CONFIGS, a[1]!, Number(a[2]), Number(a[3]), Number(a[4]), a[5]);
} else await main();
