/**
 * Weight-file benchmark: a synthetic training checkpoint of a large Cascade
 * Mask R-CNN (BEiT-3 large ViTDet backbone, simple feature pyramid, RPN,
 * three cascade stages, mask head), float32, with AdamW's two moments per
 * parameter under the names training writes (`model.*`, `optim.m.*`,
 * `optim.v.*`), so the file is about 3x the weights (~4.2 GB). It is written
 * into os.tmpdir() (scaled down, with a note, when the disk is short) and
 * deleted afterwards. Each measurement is a fresh process: time, data read
 * and peak RSS (process.resourceUsage().maxRSS) per task. The file has just
 * been written, so reads come from the page cache. Reads are the median of
 * `--runs` fresh processes (the write is timed once).
 *   npm run bench:weights [-- --runs 3 --scale 0.25 --dir /path --keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, statfsSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';

interface Spec {
  name: string;
  shape: number[];
}

/**
 * Parameter names and shapes of the large detector (densekit layouts:
 * Linear [in, out], Conv HWIO). `scale` < 1 keeps every name and shrinks the
 * big dimensions' product (for a short disk).
 */
function detectorParams(scale: number): Spec[] {
  const out: Spec[] = [];
  const p = (name: string, ...shape: number[]) => out.push({ name, shape });
  const D = 1024;
  const F = 4096;
  const depth = 24;
  const headDim = 64;
  const globalBlocks = new Set([5, 11, 17, 23]);
  const s = (n: number) => Math.max(1, Math.round(n * scale));
  const enc = 'backbone.encoder';
  p(`${enc}.patch_embed.proj.weight`, 16, 16, 3, D);
  p(`${enc}.patch_embed.proj.bias`, D);
  p(`${enc}.pos_embed`, 197, D);
  for (let i = 0; i < depth; i++) {
    const b = `${enc}.blocks.${i}`;
    const rel = globalBlocks.has(i) ? 2 * 64 - 1 : 2 * 14 - 1;
    p(`${b}.norm1.weight`, D);
    p(`${b}.norm1.bias`, D);
    for (const q of ['q', 'k', 'v', 'out']) {
      p(`${b}.attn.${q}_proj.weight`, D, s(D));
      p(`${b}.attn.${q}_proj.bias`, s(D));
    }
    p(`${b}.attn.inner_attn_ln.weight`, D);
    p(`${b}.attn.inner_attn_ln.bias`, D);
    p(`${b}.attn.rel_pos_h`, rel, headDim);
    p(`${b}.attn.rel_pos_w`, rel, headDim);
    p(`${b}.norm2.weight`, D);
    p(`${b}.norm2.bias`, D);
    p(`${b}.ffn.fc1.weight`, D, s(F));
    p(`${b}.ffn.fc1.bias`, s(F));
    p(`${b}.ffn.ffn_layernorm.weight`, F);
    p(`${b}.ffn.ffn_layernorm.bias`, F);
    p(`${b}.ffn.fc2.weight`, s(F), D);
    p(`${b}.ffn.fc2.bias`, D);
  }
  p(`${enc}.norm.weight`, D);
  p(`${enc}.norm.bias`, D);
  // Simple feature pyramid: 4x (two deconvs), 2x (one), 1x, 0.5x; each a lateral 1x1 and an output 3x3 with norms.
  p('backbone.sfp.p2.up1.weight', 2, 2, D, D / 2);
  p('backbone.sfp.p2.up1.bias', D / 2);
  p('backbone.sfp.p2.up_norm.weight', D / 2);
  p('backbone.sfp.p2.up_norm.bias', D / 2);
  p('backbone.sfp.p2.up2.weight', 2, 2, D / 2, D / 4);
  p('backbone.sfp.p2.up2.bias', D / 4);
  p('backbone.sfp.p3.up1.weight', 2, 2, D, D / 2);
  p('backbone.sfp.p3.up1.bias', D / 2);
  const inDim: Record<string, number> = { p2: D / 4, p3: D / 2, p4: D, p5: D };
  for (const level of ['p2', 'p3', 'p4', 'p5']) {
    p(`backbone.sfp.${level}.lateral.weight`, 1, 1, inDim[level]!, 256);
    p(`backbone.sfp.${level}.lateral_norm.weight`, 256);
    p(`backbone.sfp.${level}.lateral_norm.bias`, 256);
    p(`backbone.sfp.${level}.output.weight`, 3, 3, 256, 256);
    p(`backbone.sfp.${level}.output_norm.weight`, 256);
    p(`backbone.sfp.${level}.output_norm.bias`, 256);
  }
  for (const c of ['conv0', 'conv1']) {
    p(`rpn.head.${c}.weight`, 3, 3, 256, 256);
    p(`rpn.head.${c}.bias`, 256);
  }
  p('rpn.head.objectness.weight', 1, 1, 256, 3);
  p('rpn.head.objectness.bias', 3);
  p('rpn.head.anchor_deltas.weight', 1, 1, 256, 12);
  p('rpn.head.anchor_deltas.bias', 12);
  for (let st = 0; st < 3; st++) {
    const h = `roi_heads.box_heads.${st}`;
    for (let c = 0; c < 4; c++) {
      p(`${h}.conv${c}.weight`, 3, 3, 256, 256);
      p(`${h}.conv${c}.norm.weight`, 256);
      p(`${h}.conv${c}.norm.bias`, 256);
    }
    p(`${h}.fc0.weight`, 256 * 7 * 7, s(1024));
    p(`${h}.fc0.bias`, s(1024));
    p(`roi_heads.box_predictors.${st}.cls_score.weight`, s(1024), 81);
    p(`roi_heads.box_predictors.${st}.cls_score.bias`, 81);
    p(`roi_heads.box_predictors.${st}.bbox_pred.weight`, s(1024), 4);
    p(`roi_heads.box_predictors.${st}.bbox_pred.bias`, 4);
  }
  for (let c = 0; c < 4; c++) {
    p(`roi_heads.mask_head.conv${c}.weight`, 3, 3, 256, 256);
    p(`roi_heads.mask_head.conv${c}.norm.weight`, 256);
    p(`roi_heads.mask_head.conv${c}.norm.bias`, 256);
  }
  p('roi_heads.mask_head.deconv.weight', 2, 2, 256, 256);
  p('roi_heads.mask_head.deconv.bias', 256);
  p('roi_heads.mask_head.predictor.weight', 1, 1, 256, 80);
  p('roi_heads.mask_head.predictor.bias', 80);
  return out;
}

/** Every tensor of the checkpoint file: weights, then AdamW's first and second moments (as training names them). */
function checkpointSpecs(scale: number): Spec[] {
  const params = detectorParams(scale);
  return [
    ...params.map((t) => ({ name: `model.${t.name}`, shape: t.shape })),
    ...params.map((t) => ({ name: `optim.m.${t.name}`, shape: t.shape })),
    ...params.map((t) => ({ name: `optim.v.${t.name}`, shape: t.shape })),
  ];
}

const bytesOf = (specs: Spec[]) => specs.reduce((a, t) => a + 4 * t.shape.reduce((x, y) => x * y, 1), 0);

/** What each child does, and which tensors a read keeps. */
const TASKS = {
  write: { label: 'write checkpoint (streamed, one tensor in memory)', keep: undefined },
  header: { label: 'open: header only', keep: undefined },
  weights: { label: 'weights for predict (skip optim.*)', keep: (n: string) => !n.startsWith('optim.') },
  backbone: { label: 'backbone only (model.backbone.*)', keep: (n: string) => n.startsWith('model.backbone.') },
  all: { label: 'everything (resume: weights + moments)', keep: () => true },
  previous: { label: 'previous reader (readFileSync of the whole file)', keep: undefined },
} as const;
type Task = keyof typeof TASKS;

interface ChildResult {
  ms: number;
  tensors: number;
  bytes: number;
  maxRssMb: number;
  error?: string;
}

/** Runs in the child: one task on the file, result as JSON on stdout. */
async function child(task: Task, path: string, scale: number): Promise<void> {
  const { openSafetensors, writeSafetensors } = await import('../src/io/safetensors.js');
  const t0 = performance.now();
  let tensors = 0;
  let bytes = 0;
  let error: string | undefined;
  if (task === 'write') {
    const specs = checkpointSpecs(scale);
    const deferred = new Map(
      specs.map((t, k) => [
        t.name,
        {
          dtype: 'float32' as const,
          shape: t.shape,
          data: () => {
            const a = new Float32Array(t.shape.reduce((x, y) => x * y, 1));
            for (let i = 0; i < a.length; i += 1024) a[i] = k + i * 1e-6;
            return a;
          },
        },
      ]),
    );
    writeSafetensors(path, deferred, { densekit: JSON.stringify({ format: 'densekit-checkpoint-1', iteration: 90000 }) });
    tensors = specs.length;
    bytes = statSync(path).size;
  } else if (task === 'previous') {
    const { readFileSync } = await import('node:fs');
    try {
      bytes = readFileSync(path).byteLength;
    } catch (err) {
      error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  } else {
    const r = openSafetensors(path);
    try {
      const keep = TASKS[task].keep;
      if (keep) {
        const got = r.readAll((n) => keep(n));
        tensors = got.size;
        for (const t of got.values()) bytes += t.data.byteLength;
      }
    } finally {
      r.close();
    }
  }
  const ms = performance.now() - t0;
  const res: ChildResult = { ms, tensors, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024, error };
  process.stdout.write(JSON.stringify(res));
}

function runChild(task: Task, path: string, scale: number): ChildResult {
  const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', task, path, String(scale)], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (p.status !== 0) throw new Error(`${task} failed: ${p.stderr}`);
  return JSON.parse(p.stdout) as ChildResult;
}

/** Peak RSS of a child that only loads the reader (node + tsx + module). */
async function baselineChild(): Promise<void> {
  await import('../src/io/safetensors.js');
  process.stdout.write(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}

const MB = 1e6;
const GB = 1e9;

async function main(): Promise<void> {
  const dir = arg('dir', tmpdir());
  let scale = Number(arg('scale', '1'));
  const runs = Math.max(1, Number(arg('runs', '3')));
  const keep = process.argv.includes('--keep');
  const notes: string[] = [];
  const full = bytesOf(checkpointSpecs(scale));
  const fs = statfsSync(dir);
  const avail = fs.bavail * fs.bsize;
  const margin = 1 * GB;
  if (full + margin > avail) {
    const fit = Math.max(0.01, ((avail - margin) / full) * scale * 0.95);
    notes.push(`only ${(avail / GB).toFixed(1)} GB free in ${dir}: big dimensions scaled by ${fit.toFixed(2)} (file ~${((full * fit) / scale / GB).toFixed(2)} GB instead of ${(full / GB).toFixed(2)} GB)`);
    scale = fit;
  }
  const specs = checkpointSpecs(scale);
  const fileBytes = bytesOf(specs);
  const weightBytes = bytesOf(specs.filter((t) => t.name.startsWith('model.')));
  const path = join(dir, `densekit-bench-weights-${process.pid}.safetensors`);
  const tasks: Task[] = ['write', 'header', 'weights', 'backbone', 'all', 'previous'];
  if (freemem() < fileBytes * 1.3) {
    tasks.splice(tasks.indexOf('all'), 1);
    notes.push(`'everything' skipped: ${(freemem() / GB).toFixed(1)} GB free memory for a ${(fileBytes / GB).toFixed(2)} GB read`);
  }
  const base = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--baseline'], { cwd: ROOT, encoding: 'utf8' });
  const baseRss = base.status === 0 ? (JSON.parse(base.stdout) as { maxRssMb: number }).maxRssMb : NaN;
  const rows: (string | number)[][] = [];
  try {
    // The write once, then the reads round-robin (so no task always runs first after the write).
    const results = new Map<Task, ChildResult[]>(tasks.map((t) => [t, []]));
    results.get('write')!.push(runChild('write', path, scale));
    for (let k = 0; k < runs; k++) for (const task of tasks) if (task !== 'write') results.get(task)!.push(runChild(task, path, scale));
    for (const task of tasks) {
      const all = results.get(task)!;
      const r = { ...all[0]!, ms: median(all.map((x) => x.ms)), maxRssMb: Math.max(...all.map((x) => x.maxRssMb)) };
      const s = r.ms / 1000;
      rows.push([
        TASKS[task].label,
        r.error || task === 'previous' ? '-' : r.tensors,
        r.error ? '-' : (r.bytes / MB).toFixed(0),
        r.error ? `fails: ${r.error}` : s.toFixed(2),
        r.error || r.bytes === 0 ? '-' : (r.bytes / GB / s).toFixed(2),
        r.maxRssMb.toFixed(0),
      ]);
    }
  } finally {
    if (!keep && existsSync(path)) rmSync(path);
  }
  printTable(
    `Checkpoint weights, float32 safetensors: ${specs.length / 3} parameters, weights ${(weightBytes / MB).toFixed(0)} MB, file ${(fileBytes / MB).toFixed(0)} MB with both AdamW moments (${machine()})`,
    ['task', 'tensors', 'data MB', 'time s', 'GB/s', 'peak RSS MB'],
    rows,
  );
  console.log(
    `\ntime: reads are the median of ${runs} fresh processes, run round-robin after the one write; peak RSS is the largest seen. A process that only loads the reader peaks at ${baseRss.toFixed(0)} MB. Reads come from the page cache (the file was just written).`,
  );
  for (const n of notes) console.log(`note: ${n}`);
  console.log(keep ? `kept ${path}` : `deleted ${path}`);
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  await child(process.argv[i + 1] as Task, process.argv[i + 2]!, Number(process.argv[i + 3]));
} else if (process.argv.includes('--baseline')) await baselineChild();
else await main();
