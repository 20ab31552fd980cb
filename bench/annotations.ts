/**
 * Loading COCO-format annotation files of training-set size: time and peak
 * RSS of `Coco.fromFile` (what `eval coco --gt` and the evaluator do), of
 * the training dataset (`loadCocoDataset`, which starts a training run),
 * and of pycocotools' `COCO()` where python3 has pycocotools.
 *
 * Sets (bench/lib/annotation-synth.ts): COCO train2017-sized (118k images,
 * 860k annotations with polygons), LVIS v1 train-sized (100k images, 1.27M
 * annotations, 1203 classes, polygons), Objects365 v2 train-sized (1.7M
 * images, 25M boxes). Each file is written to the temporary folder, loaded
 * in fresh processes (each tool in turn, so that a slower spell of the
 * machine touches them alike) and deleted. Where the disk or the memory is
 * short, a set is scaled down, and the table says so; pycocotools is left
 * out of a set whose file it would need more memory to load than the
 * machine has free (it needs about 6x the file's size), and then measured
 * on a smaller file of the same shape.
 *
 *   npm run bench:annotations [-- --sets coco,lvis,o365 --runs 1 --scale 1 --keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, statfsSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAnnotationFile, type SynthKind } from './lib/annotation-synth.js';
import { ROOT, arg } from './lib/args.js';
import { machine, median, printTable } from './lib/table.js';

interface SetSpec {
  name: string;
  kind: SynthKind;
  images: number;
  annotations: number;
  /** Bytes per annotation of the written file, to check the disk before writing. */
  bytesPerAnn: number;
}

const SETS: SetSpec[] = [
  { name: 'COCO train', kind: 'coco', images: 118_287, annotations: 860_001, bytesPerAnn: 560 },
  { name: 'LVIS v1 train', kind: 'lvis', images: 100_170, annotations: 1_270_141, bytesPerAnn: 860 },
  { name: 'Objects365 v2 train', kind: 'o365', images: 1_742_292, annotations: 25_438_218, bytesPerAnn: 200 },
];

/** pycocotools' COCO() peaks at about this many times the file's size. */
const PYCOCO_MEMORY_PER_BYTE = 6;

interface Measured {
  load: number;
  maxRssMb: number;
  annotations?: number;
  records?: number;
}

/** The python3 that has pycocotools, if any. */
function findPython(): string | null {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    const p = spawnSync(py, ['-c', 'import pycocotools.coco'], { encoding: 'utf8' });
    if (p.status === 0) return py;
  }
  return null;
}

const PY_CHILD = `
import json, resource, sys, time
from pycocotools.coco import COCO
t = time.time()
c = COCO(sys.argv[1])
t = time.time() - t
print(json.dumps({"load": t * 1000, "maxRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "annotations": len(c.anns)}))
`;

function runChild(cmd: string, args: string[]): Measured {
  const p = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${p.stderr.slice(-2000)}`);
  const last = p.stdout.trim().split('\n').pop()!;
  return JSON.parse(last) as Measured;
}

/** Runs in the child: one load, its time and peak RSS as JSON. */
async function child(what: string, path: string): Promise<void> {
  // Modules are loaded before the clock starts (pycocotools' import is not timed either).
  const { Coco } = await import('../eval/src/index.js');
  const { loadCocoDataset } = await import('../src/data/coco-dataset.js');
  const t0 = performance.now();
  let out: Record<string, number>;
  if (what === 'coco') {
    const coco = Coco.fromFile(path);
    out = { annotations: coco.columns.length };
  } else {
    const ds = loadCocoDataset(path, tmpdir());
    // A training run starts with its first sample's objects.
    void ds.records[0]!.objects;
    out = { records: ds.records.length };
  }
  const load = performance.now() - t0;
  process.stdout.write(JSON.stringify({ load, maxRssMb: process.resourceUsage().maxRSS / 1024, ...out }));
}

function fmt(ms: number): string {
  return (ms / 1000).toFixed(1);
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '1'));
  const scale = Number(arg('scale', '1'));
  const keep = process.argv.includes('--keep');
  const wanted = arg('sets', 'coco,lvis,o365').split(',');
  const python = findPython();
  const self = fileURLToPath(import.meta.url);
  const node = (what: string, path: string) => runChild(process.execPath, ['--conditions=source', '--import', 'tsx', self, '--child', what, path]);
  const pycoco = (path: string) => runChild(python!, ['-c', PY_CHILD, path]);
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  if (!python) notes.push('pycocotools: not found (python3 -c "import pycocotools"), its columns are empty');

  for (const spec of SETS.filter((s) => wanted.includes(s.kind))) {
    // Scale down to what the disk holds (with room to spare).
    const free = statfsSync(tmpdir());
    const diskFree = free.bavail * free.bsize;
    let f = scale;
    const need = (k: number) => spec.annotations * k * spec.bytesPerAnn * 1.1;
    if (need(f) > diskFree * 0.8) {
      f = Math.floor(((diskFree * 0.8) / need(1)) * 100) / 100;
      notes.push(`${spec.name}: scaled to ${f} (disk: ${(diskFree / 2 ** 30).toFixed(0)} GiB free)`);
    }
    const images = Math.max(1, Math.round(spec.images * f));
    const annotations = Math.round(spec.annotations * f);
    const path = join(tmpdir(), `densekit-bench-${spec.kind}-${images}-${annotations}.json`);
    let t0 = performance.now();
    // --keep keeps the files for the next run, which then reuses them.
    const reuse = keep && existsSync(path);
    const size = reuse ? statSync(path).size : writeAnnotationFile(path, { kind: spec.kind, images, annotations, seed: 7 });
    console.log(`${spec.name}: ${images} images, ${annotations} annotations, ${(size / 2 ** 20).toFixed(0)} MiB (${reuse ? 'kept from an earlier run' : `written in ${fmt(performance.now() - t0)} s`})`);
    t0 = performance.now();

    // pycocotools where the memory allows; else on a smaller file of the same shape.
    const pyFits = python !== null && size * PYCOCO_MEMORY_PER_BYTE < freemem() * 0.7;
    const results = { coco: [] as Measured[], train: [] as Measured[], py: [] as Measured[] };
    for (let r = 0; r < runs; r++) {
      results.coco.push(node('coco', path));
      results.train.push(node('train', path));
      if (pyFits) results.py.push(pycoco(path));
    }
    const row = (label: string, n: number, mib: number, m: { coco: Measured[]; train: Measured[]; py: Measured[] }) => {
      const med = (xs: Measured[]) => (xs.length ? median(xs.map((x) => x.load)) : NaN);
      const peak = (xs: Measured[]) => (xs.length ? Math.max(...xs.map((x) => x.maxRssMb)) : NaN);
      const [c, t, p] = [med(m.coco), med(m.train), med(m.py)];
      const [cm, tm, pm] = [peak(m.coco), peak(m.train), peak(m.py)];
      rows.push([
        label,
        n,
        mib.toFixed(0),
        fmt(c),
        cm.toFixed(0),
        fmt(t),
        tm.toFixed(0),
        m.py.length ? fmt(p) : '—',
        m.py.length ? pm.toFixed(0) : '—',
        m.py.length ? `${(p / c).toFixed(1)}x` : '—',
        m.py.length ? `${((100 * cm) / pm).toFixed(0)}%` : '—',
      ]);
    };
    row(f === 1 ? spec.name : `${spec.name} (x${f})`, annotations, size / 2 ** 20, results);
    if (!keep) rmSync(path, { force: true });

    if (python && !pyFits) {
      // The largest file of this shape pycocotools can load here, for both.
      const k = Math.min(1, (freemem() * 0.5) / PYCOCO_MEMORY_PER_BYTE / size) * f;
      const sImages = Math.max(1, Math.round(spec.images * k));
      const sAnns = Math.round(spec.annotations * k);
      const small = join(tmpdir(), `densekit-bench-${spec.kind}-${sImages}-${sAnns}.json`);
      const sBytes = keep && existsSync(small) ? statSync(small).size : writeAnnotationFile(small, { kind: spec.kind, images: sImages, annotations: sAnns, seed: 7 });
      notes.push(`${spec.name}: pycocotools would need about ${((size * PYCOCO_MEMORY_PER_BYTE) / 2 ** 30).toFixed(0)} GiB for the full file (${(freemem() / 2 ** 30).toFixed(0)} GiB free); compared on a ${k.toFixed(2)}x file instead`);
      const sm = { coco: [] as Measured[], train: [] as Measured[], py: [] as Measured[] };
      for (let r = 0; r < runs; r++) {
        sm.coco.push(node('coco', small));
        sm.train.push(node('train', small));
        sm.py.push(pycoco(small));
      }
      row(`${spec.name} (x${k.toFixed(2)})`, sAnns, sBytes / 2 ** 20, sm);
      if (!keep) rmSync(small, { force: true });
    }
    console.log(`  measured in ${fmt(performance.now() - t0)} s`);
  }
  printTable(
    `Annotation files, load time (median of ${runs}) and peak RSS (${machine()})`,
    ['set', 'annotations', 'MiB', 'Coco.fromFile s', 'MB', 'training set s', 'MB', 'pycocotools s', 'MB', 'speed-up', 'memory'],
    rows,
  );
  for (const n of notes) console.log(`note: ${n}`);
  console.log('targets: every size loads; >= 3x faster than pycocotools and <= 1/3 of its peak memory; Objects365-train-sized within ~60 s');
}

if (process.argv.includes('--child')) await child(process.argv[process.argv.indexOf('--child') + 1]!, process.argv[process.argv.indexOf('--child') + 2]!);
else await main();
