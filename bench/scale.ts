/**
 * Prediction and evaluation at scale.
 *
 * 1. Prediction throughput per image of the tiny demo detector (random
 *    weights, synthetic 128-px images) on each engine, on one onnxruntime
 *    thread, and as two shard processes side by side: seconds per image once running (from the
 *    per-image callbacks: loading, tracing and the first image excluded),
 *    wall time, peak RSS.
 * 2. An Objects365-sized evaluation: 80,000 images, 365 categories, about
 *    13 boxes of GT and 100 detections per image (synthetic), written as the
 *    8 shard files of one run: merging them into one COCO results file, and
 *    evaluating the shards directly (a group of categories at a time), with
 *    time and peak RSS. `--whole` also evaluates the merged file in one
 *    piece (everything in memory) for comparison.
 *
 *   npm run bench:scale [-- --images 80000 --shards 8 --group N --predict-images 80 --whole --skip-predict --skip-eval]
 *
 * Each measured run is a child process, so its peak RSS is its own.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/engine/random.js';
import { machine, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';
import { RECORDS_FORMAT, RECORDS_VERSION, runIdentity, type RunHeader } from '../src/tasks/results-log.js';

const DIR = join(ROOT, '.bench', 'scale');
const SELF = fileURLToPath(import.meta.url);

interface ChildReport {
  [k: string]: number | string;
}

function child(args: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', SELF, '--child', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport) : reject(new Error(`child ${args.join(' ')} exited ${code}`))));
  });
}

const rssMb = () => process.resourceUsage().maxRSS / 1024;

// ---------------------------------------------------------------- prediction

const CONFIG = 'configs/demo/mask_rcnn_tiny_synth.yaml';

async function preparePredict(n: number): Promise<{ images: string; weights: string }> {
  const data = join(DIR, `predict-${n}`);
  const weights = join(DIR, 'tiny-random.safetensors');
  if (!existsSync(join(data, 'val')) || readdirSync(join(data, 'val')).length !== n) {
    const { writeShapesDataset } = await import('../src/data/synthesize.js');
    rmSync(data, { recursive: true, force: true });
    await writeShapesDataset({ out: data, trainImages: 1, valImages: n, size: 128, seed: 11 });
  }
  if (!existsSync(weights)) {
    const { initBackend } = await import('../src/engine/backend.js');
    const { loadConfig } = await import('../src/config/index.js');
    const { isDetectorConfig } = await import('../src/config/schema.js');
    const { GeneralizedRCNN } = await import('../src/detection/rcnn.js');
    const { saveCheckpoint } = await import('../src/io/checkpoint.js');
    await initBackend();
    const { config } = loadConfig(CONFIG);
    const { stages: _s, ...run } = config;
    if (!isDetectorConfig(run)) throw new Error('expected a detector');
    const model = new GeneralizedRCNN({ ...run.model, backbone: { ...run.model.backbone, pretrained: null } }, run.input, 7);
    saveCheckpoint(weights, model, undefined, { format: 'densekit-checkpoint-1', iteration: 0, optimizerStep: 0, loaderPosition: 0, rngStates: [], config: JSON.stringify(run) });
    model.dispose();
  }
  return { images: join(data, 'val'), weights };
}

/** Child: predict a shard of the images with one engine; per-image times from the callbacks. */
async function childPredict(engineName: string, threads: string, shard: string, images: string, weights: string, out: string): Promise<void> {
  const t0 = performance.now();
  const { initBackend } = await import('../src/engine/backend.js');
  const { loadConfig } = await import('../src/config/index.js');
  const { taskFor } = await import('../src/tasks/index.js');
  const { chooseEngine } = await import('../src/tasks/engine.js');
  const { listImages } = await import('../src/tasks/inputs.js');
  const { parseShard } = await import('../src/tasks/shards.js');
  const backend = await initBackend();
  const { config } = loadConfig(CONFIG);
  const { stages: _s, ...run } = config;
  const task = taskFor(run);
  const engine = await chooseEngine(engineName, { threads: threads === 'all' ? undefined : Number(threads), onnxSupported: task.onnx });
  const stamps: number[] = [];
  const r = await task.predict(weights, listImages([images]), out, {
    engine,
    shard: shard === '-' ? undefined : parseShard(shard),
    onImage: () => stamps.push(performance.now()),
  });
  const t1 = performance.now();
  const steady = stamps.length > 2 ? (stamps[stamps.length - 1]! - stamps[1]!) / (stamps.length - 2) : NaN;
  process.stdout.write(`${JSON.stringify({ backend: backend.name, engine: engine.name, images: stamps.length, perImageMs: steady, firstImageMs: stamps[0]! - t0, wallS: (t1 - t0) / 1000, rssMb: rssMb(), summary: r.summary })}\n`);
}

async function benchPredict(n: number): Promise<void> {
  const { images, weights } = await preparePredict(n);
  const out = join(DIR, 'predict-out');
  rmSync(out, { recursive: true, force: true });
  process.env.DENSEKIT_CACHE = join(DIR, 'cache');
  const rows: (string | number)[][] = [];
  const setups: { label: string; engine: string; threads: string; shards: number }[] = [
    { label: 'onnx, all threads', engine: 'onnx', threads: 'all', shards: 1 },
    { label: 'onnx, 1 thread', engine: 'onnx', threads: '1', shards: 1 },
    { label: 'onnx, 2 shards x 1 thread', engine: 'onnx', threads: '1', shards: 2 },
    { label: 'tfjs', engine: 'tfjs', threads: 'all', shards: 1 },
  ];
  for (const s of setups) {
    // A first, untimed run traces the ONNX graph into the cache, as a job's first task would.
    if (s.engine === 'onnx' && s === setups[0]) await child(['predict', s.engine, s.threads, '-', images, weights, join(out, 'warm.json')]);
    const t0 = performance.now();
    const reps = await Promise.all(
      Array.from({ length: s.shards }, (_, i) => child(['predict', s.engine, s.threads, s.shards > 1 ? `${i}/${s.shards}` : '-', images, weights, join(out, `${s.label.replace(/\W+/g, '_')}.json`)])),
    );
    const wall = (performance.now() - t0) / 1000;
    const per = reps.map((r) => Number(r.perImageMs));
    // Side by side, the shards' throughputs add up.
    const throughput = reps.reduce((a, r) => a + 1000 / Number(r.perImageMs), 0);
    const dets = reps.reduce((a, r) => a + Number(/^(\d+) detections/.exec(String(r.summary))?.[1] ?? NaN), 0);
    rows.push([s.label, reps[0]!.backend!, n, (dets / n).toFixed(1), per.map((v) => v.toFixed(0)).join(' / '), (1000 / throughput).toFixed(1), wall.toFixed(1), Math.max(...reps.map((r) => Number(r.rssMb))).toFixed(0)]);
  }
  printTable(
    `Prediction, tiny demo detector (random weights), ${n} synthetic 128-px images (${machine()})`,
    ['setup', 'tfjs backend', 'images', 'detections/image', 'ms/image per process', 'ms/image overall', 'wall s', 'peak RSS MB'],
    rows,
  );
}

// ---------------------------------------------------------------- evaluation

interface EvalSet {
  gt: string;
  shardFiles: string[];
  detections: number;
  annotations: number;
}

/** Write a box-only Objects365-like GT and the shard files of one run, streaming (nothing large in memory). */
function prepareEval(images: number, categories: number, shards: number, dets: number): EvalSet {
  const dir = join(DIR, `eval-${images}x${categories}x${dets}-${shards}`);
  const gt = join(dir, 'gt.json');
  const shardFiles = Array.from({ length: shards }, (_, i) => join(dir, 'shards', `val.shard-${i}-of-${shards}.jsonl`));
  const stamp = join(dir, 'done.json');
  if (existsSync(stamp)) return { gt, shardFiles, ...(JSON.parse(readFileSync(stamp, 'utf8')) as { detections: number; annotations: number }) };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'shards'), { recursive: true });
  const t0 = performance.now();
  const rng = new Rng(365);
  const w = (fd: number, s: string) => writeSync(fd, s);
  const gtFd = openSync(gt, 'w');
  const base: Omit<RunHeader, 'run'> = {
    densekit: RECORDS_FORMAT,
    version: RECORDS_VERSION,
    state: 'complete',
    task: 'detection',
    weights: { path: '/bench/synthetic.safetensors', bytes: 1, sha256: '0'.repeat(64) },
    config: { sha256: '1'.repeat(64) },
    images: { total: images, sha256: '2'.repeat(64) },
    shard: { index: 0, count: shards, images: 0 },
    options: { scoreThreshold: 0 },
  };
  const fds = shardFiles.map((f, i) => {
    const fd = openSync(f, 'w');
    const h = { ...base, shard: { index: i, count: shards, images: Math.ceil((images - i) / shards) } };
    w(fd, `${JSON.stringify({ ...h, run: runIdentity(h), count: Math.ceil((images - i) / shards) * dets })}\n`);
    return fd;
  });
  w(gtFd, `{"info":{"description":"synthetic Objects365-sized set"},"categories":[${Array.from({ length: categories }, (_, c) => `{"id":${c + 1},"name":"c${c + 1}"}`).join(',')}],"images":[`);
  const imgParts: string[] = [];
  for (let i = 0; i < images; i++) imgParts.push(`{"id":${i + 1},"width":${640 + 32 * (i % 11)},"height":${480 + 32 * (i % 7)},"file_name":"${i + 1}.jpg"}`);
  w(gtFd, imgParts.join(','));
  w(gtFd, '],"annotations":[');
  let annId = 1;
  const r2 = (v: number) => Math.round(v * 100) / 100;
  for (let i = 0; i < images; i++) {
    const id = i + 1;
    const W = 640 + 32 * (i % 11);
    const H = 480 + 32 * (i % 7);
    const nGt = 7 + rng.int(13);
    const objs: { c: number; b: number[] }[] = [];
    const anns: string[] = [];
    for (let g = 0; g < nGt; g++) {
      const bw = 8 + rng.uniform() * W * 0.4;
      const bh = 8 + rng.uniform() * H * 0.4;
      const b = [r2(rng.uniform() * (W - bw)), r2(rng.uniform() * (H - bh)), r2(bw), r2(bh)];
      const c = 1 + rng.int(categories);
      objs.push({ c, b });
      anns.push(`{"id":${annId++},"image_id":${id},"category_id":${c},"bbox":[${b.join(',')}],"area":${r2(b[2]! * b[3]!)},"iscrowd":${rng.uniform() < 0.02 ? 1 : 0}}`);
    }
    w(gtFd, (id > 1 ? ',' : '') + anns.join(','));
    const results: string[] = [];
    for (let d = 0; d < dets; d++) {
      let b: number[];
      let c: number;
      if (d < nGt * 3) {
        const o = objs[d % nGt]!;
        const j = 0.2 * (d / nGt);
        b = o.b.map((v, k) => r2(Math.max(0, v + (rng.uniform() - 0.5) * j * (k % 2 ? H : W) * 0.1)));
        c = rng.uniform() < 0.8 ? o.c : 1 + rng.int(categories);
      } else {
        const bw = 8 + rng.uniform() * W * 0.3;
        const bh = 8 + rng.uniform() * H * 0.3;
        b = [r2(rng.uniform() * (W - bw)), r2(rng.uniform() * (H - bh)), r2(bw), r2(bh)];
        c = 1 + rng.int(categories);
      }
      results.push(`{"image_id":${id},"category_id":${c},"bbox":[${b.join(',')}],"score":${Math.round(rng.uniform() * 1e4) / 1e4}}`);
    }
    w(fds[i % shards]!, `{"k":${i},"file":"${id}.jpg","image_id":${id},"results":[${results.join(',')}]}\n`);
  }
  w(gtFd, ']}');
  closeSync(gtFd);
  for (const fd of fds) closeSync(fd);
  writeFileSync(stamp, JSON.stringify({ detections: images * dets, annotations: annId - 1 }));
  console.log(`generated ${images} images, ${annId - 1} GT boxes, ${images * dets} detections in ${shards} shards (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return { gt, shardFiles, detections: images * dets, annotations: annId - 1 };
}

async function childEval(kind: string, gt: string, target: string, extra: string): Promise<void> {
  const t0 = performance.now();
  if (kind === 'merge') {
    const { classifyInputs, mergeDetections } = await import('../src/tasks/merge.js');
    const { expandGlobs } = await import('../src/tasks/inputs.js');
    const m = mergeDetections(classifyInputs(expandGlobs([target])), extra);
    process.stdout.write(`${JSON.stringify({ s: (performance.now() - t0) / 1000, rssMb: rssMb(), results: m.results, mb: statSync(extra).size / 2 ** 20 })}\n`);
  } else if (kind === 'shards') {
    const { evaluateCocoInputs } = await import('../src/tasks/detection/evaluate-inputs.js');
    const r = evaluateCocoInputs(gt, [target], 'bbox', { groupDetections: extra === '-' ? undefined : Number(extra) });
    process.stdout.write(`${JSON.stringify({ s: (performance.now() - t0) / 1000, rssMb: rssMb(), ap: r.stats[0]!, groups: r.inputs.groups })}\n`);
  } else {
    const { evaluateCocoFiles } = await import('../src/tasks/detection/evaluate.js');
    const r = evaluateCocoFiles(gt, target, 'bbox');
    process.stdout.write(`${JSON.stringify({ s: (performance.now() - t0) / 1000, rssMb: rssMb(), ap: r.stats[0]! })}\n`);
  }
}

async function benchEval(images: number, shards: number, whole: boolean): Promise<void> {
  const set = prepareEval(images, 365, shards, 100);
  const glob = join(DIR, `eval-${images}x365x100-${shards}`, 'shards', 'val.shard-*.jsonl');
  const merged = join(DIR, `eval-${images}x365x100-${shards}`, 'merged.json');
  const rows: (string | number)[][] = [];
  const m = await child(['eval', 'merge', set.gt, glob, merged]);
  rows.push([`merge ${shards} shards → one COCO file (${Number(m.mb).toFixed(0)} MB)`, Number(m.s).toFixed(1), Number(m.rssMb).toFixed(0), '']);
  const e = await child(['eval', 'shards', set.gt, glob, arg('group', '-')]);
  rows.push([`eval coco --dt "${shards} shards" (${e.groups} groups of categories)`, Number(e.s).toFixed(1), Number(e.rssMb).toFixed(0), Number(e.ap).toFixed(4)]);
  if (whole) {
    const w = await child(['eval', 'whole', set.gt, merged, '-']);
    rows.push(['eval coco --dt merged file (all in memory)', Number(w.s).toFixed(1), Number(w.rssMb).toFixed(0), Number(w.ap).toFixed(4)]);
  }
  printTable(
    `Objects365-sized evaluation: ${images} images, 365 categories, ${set.annotations} GT boxes, ${set.detections} detections (${machine()})`,
    ['step', 'time s', 'peak RSS MB', 'bbox AP'],
    rows,
  );
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  if (!process.argv.includes('--skip-predict')) await benchPredict(Number(arg('predict-images', '80')));
  if (!process.argv.includes('--skip-eval')) await benchEval(Number(arg('images', '80000')), Number(arg('shards', '8')), process.argv.includes('--whole'));
}

const at = process.argv.indexOf('--child');
if (at > 0) {
  const [kind, ...rest] = process.argv.slice(at + 1);
  if (kind === 'predict') await childPredict(rest[0]!, rest[1]!, rest[2]!, rest[3]!, rest[4]!, rest[5]!);
  else await childEval(rest[0]!, rest[1]!, rest[2]!, rest[3]!);
} else await main();
