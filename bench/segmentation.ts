/**
 * Segmentation benchmark: BEiT-3 + ViT-Adapter + Mask2Former (the ADE20K
 * 896 config, base by default) on the default backend. Sliding-window
 * inference on one synthetic image whose shorter side is the test size
 * (ADE20K images are landscape: 896 x 1195 gives two 896² windows at stride
 * 512), plus the time of one window and its split between backbone (adapter
 * included) and head. Randomly initialised weights: time does not depend on
 * their values.
 *   npm run bench:segmentation [-- --size base --crop 896 --width 1195 --runs 2]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';


interface ChildResult {
  backend: string;
  windows: number;
  image: number[];
  backbone: number[];
  head: number[];
  maxRssMb: number;
}

async function child(size: string, crop: number, width: number, runs: number): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.js');
  const { tf } = await import('../src/engine/tf.js');
  const { loadConfig } = await import('../src/config/load.js');
  const { isSegmenterConfig } = await import('../src/config/schema.js');
  const { Mask2Former } = await import('../src/segmentation/mask2former.js');
  const { predictSemantic } = await import('../src/tasks/semantic/predict.js');
  const { Rng } = await import('../src/engine/random.js');
  const info = await initBackend();
  const { config } = loadConfig(`configs/ade20k/mask2former_beit3_adapter_${size}_896.yaml`, [
    'model.backbone.pretrained=null',
    `model.test.crop_size=${crop}`,
    `input.train_size=${crop}`,
    `input.test_size=${crop}`,
  ]);
  if (!isSegmenterConfig(config)) throw new Error('not a segmenter config');
  const model = new Mask2Former(config.model, config.input, 0).eval();
  const rng = new Rng(5);
  const data = new Uint8Array(crop * width * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256);
  const image = { data, width, height: crop };
  const t = config.model.test;
  const windows = (Math.max(0, Math.ceil((width - crop) / t.stride)) + 1) * 1;

  const res: ChildResult = { backend: info.name, windows, image: [], backbone: [], head: [], maxRssMb: 0 };
  const x = tf.randomNormal([1, crop, crop, 3], 0, 1, 'float32', 1);
  const oneWindow = (record: boolean) =>
    tf.tidy(() => {
      const t0 = performance.now();
      const feats = model.backbone.forward(x);
      for (const f of feats) f.dataSync();
      const t1 = performance.now();
      const head = model.sem_seg_head;
      const { maskFeatures, multiScale } = head.pixel_decoder.forward(feats);
      head.predictor.forward(multiScale, maskFeatures).at(-1)!.masks.dataSync();
      const t2 = performance.now();
      if (record) {
        res.backbone.push(t1 - t0);
        res.head.push(t2 - t1);
      }
    });
  oneWindow(false);
  for (let r = 0; r < runs; r++) oneWindow(true);
  for (let r = 0; r <= runs; r++) {
    const t0 = performance.now();
    predictSemantic(model, image, config.input, t);
    if (r > 0) res.image.push(performance.now() - t0);
  }
  res.maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(res));
}

async function main(): Promise<void> {
  const size = arg('size', 'base');
  const crop = Number(arg('crop', '896'));
  const width = Number(arg('width', String(Math.round((crop * 4) / 3))));
  const runs = Number(arg('runs', '2'));
  const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', size, String(crop), String(width), String(runs)], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
  const r = JSON.parse(p.stdout) as ChildResult;
  const s = (v: number[]) => (median(v) / 1000).toFixed(2);
  printTable(
    `Mask2Former + ViT-Adapter semantic inference (median of ${runs}) — ${machine()}`,
    ['model', 'image', 'backend', 'windows', 'per image s', 'window: backbone s', 'window: head s', 'peak RSS MB'],
    [[`BEiT-3 ${size}`, `${crop}x${width}`, r.backend, r.windows, s(r.image), s(r.backbone), s(r.head), r.maxRssMb.toFixed(0)]],
  );
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  const a = process.argv.slice(i + 1);
  await child(a[0]!, Number(a[1]), Number(a[2]), Number(a[3]));
} else await main();
