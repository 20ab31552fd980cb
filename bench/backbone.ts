/**
 * Backbone benchmark: BEiT-3 (ViTDet mode) forward at 1024x1024, batch 1, on
 * the default backend; median of N runs after a warm-up, peak RSS, and the
 * time per kernel. PyTorch on the same machine is measured by
 * bench/backbone_torch.py when python3-torch is installed. Debian's torch
 * uses whatever libblas.so.3 is installed: the reference BLAS runs at
 * ~3 GFLOP/s; install libopenblas0-pthread to give PyTorch its real speed.
 *   npm run bench:backbone [-- --sizes base,large --runs 3 --size 1024]
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
  const rows: (string | number)[][] = [];
  const profiles: string[] = [];
  for (const s of sizes) {
    const p = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', s, String(img), String(runs)], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
    const r = JSON.parse(p.stdout) as { backend: string; times: number[]; maxRssMb: number; top: [string, number][] };
    const ours = median(r.times);
    const torch = torchTimes(s, img, runs);
    const torchMs = typeof torch === 'string' ? undefined : torch.ms;
    rows.push([s, `${img}x${img}`, r.backend, (ours / 1000).toFixed(2), r.maxRssMb.toFixed(0), torchMs ? (torchMs / 1000).toFixed(2) : String(torch), torchMs ? (ours / torchMs).toFixed(1) : '-']);
    profiles.push(`${s}: ${r.top.map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}s`).join(', ')}`);
  }
  printTable(`BEiT-3 ViTDet backbone forward, batch 1, median of ${runs} (${machine()})`, ['size', 'input', 'backend', 'densekit s', 'peak RSS MB', 'PyTorch s', 'ratio'], rows);
  console.log('\nper-kernel time (one profiled run):');
  for (const l of profiles) console.log(`  ${l}`);
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  await child(process.argv[i + 1] as 'base' | 'large', Number(process.argv[i + 2]), Number(process.argv[i + 3]));
} else await main();
