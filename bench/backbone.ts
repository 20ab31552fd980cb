/**
 * Backbone benchmark: BEiT-3 (ViTDet mode) forward at 1024x1024, batch 1, on
 * the default backend; median of N runs after a warm-up, peak RSS, and the
 * time per kernel. PyTorch on the same machine is measured by
 * bench/backbone_torch.py when python3-torch is installed. Debian's torch
 * uses whatever libblas.so.3 is installed: the reference BLAS runs at
 * ~3 GFLOP/s; install libopenblas0-pthread to give PyTorch its real speed.
 * The `onnx` row traces the same forward into a graph (the export time is
 * one tfjs forward plus writing the file) and runs it in onnxruntime-node
 * with every core.
 *   npm run bench:backbone [-- --sizes base,large --runs 3 --size 1024 --engines tfjs,onnx]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable } from './lib/table.js';
import { arg, ROOT } from './lib/args.js';


async function child(size: 'base' | 'large', img: number, runs: number): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.js');
  const { tf } = await import('../src/engine/tf.js');
  const { buildEncoder } = await import('../src/backbone/vitdet.js');
  const { backbonePreset } = await import('./lib/presets.js');
  const info = await initBackend();
  const enc = buildEncoder(backbonePreset(size), img).eval();
  const x = tf.randomNormal([1, img, img, 3], 0, 1, 'float32', 1);
  const once = () => tf.tidy(() => void enc.forward(x).map.dataSync());
  once();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  // One profiled run: time per kernel name.
  const prof = await tf.profile(() => tf.tidy(() => void enc.forward(x).map.dataSync()));
  const byKernel = new Map<string, number>();
  for (const k of prof.kernels) {
    // Custom-gradient ops are recorded under their scope's name with time
    // that includes the kernels inside them, which are recorded too.
    if (k.name === 'unnamed scope') continue;
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
  }
  const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  process.stdout.write(JSON.stringify({ backend: info.name, times, maxRssMb: process.resourceUsage().maxRSS / 1024, top }));
}

/** The same forward as a traced ONNX graph on onnxruntime: export time, then median run time. */
async function onnxChild(size: 'base' | 'large', img: number, runs: number): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.js');
  const { tf } = await import('../src/engine/tf.js');
  const { buildEncoder } = await import('../src/backbone/vitdet.js');
  const { backbonePreset } = await import('./lib/presets.js');
  const { traceGraph } = await import('../src/engine/onnx/tracer.js');
  const { writeOnnxModel } = await import('../src/io/onnx-file.js');
  const { OrtGraph } = await import('../src/engine/onnx/session.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir, availableParallelism } = await import('node:os');
  const { join } = await import('node:path');
  await initBackend();
  const enc = buildEncoder(backbonePreset(size), img).eval();
  const x = tf.randomNormal([1, img, img, 3], 0, 1, 'float32', 1);
  const dir = mkdtempSync(join(tmpdir(), 'dk-bench-onnx-'));
  const t0 = performance.now();
  const { graph, outputs } = traceGraph(() => ({ map: enc.forward(x).map }), [{ name: 'images', tensor: x }], { name: 'backbone', model: enc });
  for (const t of Object.values(outputs)) t.dispose();
  writeOnnxModel(join(dir, 'backbone.onnx'), { graph, opset: 17, producerName: 'densekit-bench', producerVersion: '0', metadata: {} });
  const exportMs = performance.now() - t0;
  enc.dispose();
  const threads = availableParallelism();
  const g = await OrtGraph.load(join(dir, 'backbone.onnx'), { threads });
  const feeds = { images: { data: x.dataSync() as Float32Array, shape: x.shape } };
  await g.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t1 = performance.now();
    await g.run(feeds);
    times.push(performance.now() - t1);
  }
  await g.release();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ backend: `onnx (cpu, ${threads} threads)`, times, exportMs, maxRssMb: process.resourceUsage().maxRSS / 1024, top: [] }));
}

/** A Python that can import torch (Debian's python3-torch lives under /usr/bin/python3). */
function torchPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) return py;
  }
  return undefined;
}

/**
 * Debian's OpenBLAS misdetects some AVX-512 CPUs as older cores (6x slower
 * matmul); name the core explicitly there. On CPUs without AVX-512 that
 * setting crashes, so autodetection stays.
 */
function openblasCore(): Record<string, string> {
  if (process.env.OPENBLAS_CORETYPE) return {};
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return {};
  }
  return /\bavx512f\b/.test(flags) ? { OPENBLAS_CORETYPE: 'SKYLAKEX' } : {};
}

function torchTimes(size: string, img: number, runs: number): { ms: number; threads: number } | string {
  const py = torchPython();
  if (!py) return 'python3-torch not installed';
  const r = spawnSync(py, [fileURLToPath(new URL('./backbone_torch.py', import.meta.url)), size, String(img), String(runs)], {
    encoding: 'utf8',
    env: { ...process.env, ...openblasCore() },
  });
  if (r.status !== 0) return `torch failed: ${r.stderr.split('\n').slice(-2).join(' ')}`;
  return JSON.parse(r.stdout) as { ms: number; threads: number };
}

async function main(): Promise<void> {
  const sizes = arg('sizes', 'base,large').split(',') as ('base' | 'large')[];
  const runs = Number(arg('runs', '3'));
  const img = Number(arg('size', '1024'));
  const engines = arg('engines', 'tfjs,onnx').split(',');
  const rows: (string | number)[][] = [];
  const profiles: string[] = [];
  for (const s of sizes) {
    const torch = torchTimes(s, img, runs);
    const torchMs = typeof torch === 'string' ? undefined : torch.ms;
    for (const engine of engines) {
      const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), engine === 'onnx' ? '--onnx-child' : '--child', s, String(img), String(runs)], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
      const r = JSON.parse(p.stdout) as { backend: string; times: number[]; exportMs?: number; maxRssMb: number; top: [string, number][] };
      const ours = median(r.times);
      rows.push([s, `${img}x${img}`, r.backend, (ours / 1000).toFixed(2), r.exportMs ? (r.exportMs / 1000).toFixed(1) : '-', r.maxRssMb.toFixed(0), torchMs ? (torchMs / 1000).toFixed(2) : String(torch), torchMs ? (ours / torchMs).toFixed(2) : '-']);
      if (r.top.length) profiles.push(`${s}: ${r.top.map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}s`).join(', ')}`);
    }
  }
  printTable(`BEiT-3 ViTDet backbone forward, batch 1, median of ${runs} (${machine()})`, ['size', 'input', 'engine', 'densekit s', 'export s', 'peak RSS MB', 'PyTorch s', 'ratio'], rows);
  console.log('\nper-kernel time (one profiled run):');
  for (const l of profiles) console.log(`  ${l}`);
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  await child(process.argv[i + 1] as 'base' | 'large', Number(process.argv[i + 2]), Number(process.argv[i + 3]));
} else if (process.argv.includes('--onnx-child')) {
  const i = process.argv.indexOf('--onnx-child');
  await onnxChild(process.argv[i + 1] as 'base' | 'large', Number(process.argv[i + 2]), Number(process.argv[i + 3]));
} else await main();
