/**
 * COCO evaluation benchmark: load + evaluate + accumulate + summarize on a
 * synthetic COCO-sized set (5000 images x 100 detections, bbox; 1000 images,
 * segm). Each run is a fresh process so peak RSS is per run.
 *   npm run bench:coco-eval [-- --runs 3]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthCoco } from './lib/coco-synth.js';
import { machine, median, printTable } from './lib/table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, '.bench', 'coco-eval');

const SETS = [
  { name: 'bbox', images: 5000, segm: false },
  { name: 'segm', images: 1000, segm: true },
] as const;

/** What is timed: each set as evaluated by default, and the mask set kept on one thread. */
const RUNS = [
  { label: 'bbox', set: 'bbox', threads: 'auto' },
  { label: 'segm', set: 'segm', threads: 'auto' },
  { label: 'segm, 1 thread', set: 'segm', threads: '1' },
] as const;

function ensureData(): void {
  mkdirSync(DIR, { recursive: true });
  for (const s of SETS) {
    const gtPath = join(DIR, `${s.name}_gt.json`);
    if (existsSync(gtPath)) continue;
    const t0 = Date.now();
    const { gt, dets } = synthCoco({ images: s.images, categories: 80, gtPerImage: 7, detsPerImage: 100, segm: s.segm, seed: 7 });
    writeFileSync(gtPath, JSON.stringify(gt));
    writeFileSync(join(DIR, `${s.name}_dets.json`), JSON.stringify(dets));
    console.log(`generated ${s.name}: ${gt.images.length} images, ${gt.annotations.length} GT, ${dets.length} dets (${Date.now() - t0} ms)`);
  }
}

/** Runs in the child: evaluate once, print timing and peak RSS as JSON. */
async function child(set: string, threads: string): Promise<void> {
  const { Coco, CocoEval } = await import('../eval/src/index.js');
  const t0 = performance.now();
  const gt = Coco.fromFile(join(DIR, `${set}_gt.json`));
  const dt = gt.loadResFile(join(DIR, `${set}_dets.json`), threads === '1' ? { threads: 1 } : {});
  const t1 = performance.now();
  const E = new CocoEval(gt, dt, set as 'bbox' | 'segm', threads === '1' ? { threads: 1 } : {});
  E.evaluate();
  const t2 = performance.now();
  E.accumulate();
  const t3 = performance.now();
  E.summarize();
  const t4 = performance.now();
  process.stdout.write(
    JSON.stringify({ load: t1 - t0, evaluate: t2 - t1, accumulate: t3 - t2, summarize: t4 - t3, total: t4 - t0, maxRssMb: process.resourceUsage().maxRSS / 1024, ap: E.stats[0] }),
  );
}

async function main(): Promise<void> {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
  ensureData();
  const rows: (string | number)[][] = [];
  // Runs alternate between the rows, so that a slower spell of the machine touches them alike.
  const results = RUNS.map(() => [] as Record<string, number>[]);
  for (let r = 0; r < runs; r++) {
    RUNS.forEach((run, k) => {
      const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', run.set, run.threads], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
      if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
      results[k]!.push(JSON.parse(p.stdout) as Record<string, number>);
    });
  }
  RUNS.forEach((run, k) => {
    const s = SETS.find((x) => x.name === run.set)!;
    const got = results[k]!;
    const med = (key: string) => median(got.map((x) => x[key]!));
    rows.push([run.label, s.images, (med('load') / 1000).toFixed(2), (med('evaluate') / 1000).toFixed(2), (med('accumulate') / 1000).toFixed(2), (med('total') / 1000).toFixed(2), Math.max(...got.map((x) => x.maxRssMb!)).toFixed(0), got[0]!.ap!.toFixed(4)]);
  });
  printTable(`COCO evaluation, median of ${runs} (${machine()})`, ['iouType', 'images', 'load s', 'evaluate s', 'accumulate s', 'total s', 'peak RSS MB', 'AP'], rows);
  console.log('targets: bbox <= 5 s, segm <= 1.5 s, peak RSS < 2048 MB (pycocotools: 64 s / 12.8 s; faster-coco-eval: 7.5 s / 2.2 s)');
}

if (process.argv.includes('--child')) await child(process.argv[process.argv.indexOf('--child') + 1]!, process.argv[process.argv.indexOf('--child') + 2] ?? 'auto');
else await main();
