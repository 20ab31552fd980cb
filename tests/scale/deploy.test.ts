import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { registerPredict } from '../../src/cli/commands/predict.js';
import { registerMerge } from '../../src/cli/commands/merge.js';
import { registerEval } from '../../src/cli/commands/eval.js';
import { resolveShard, shardResultsPath, SHARD_ENV } from '../../src/tasks/shards.js';
import { matchesGlob } from '../../src/tasks/inputs.js';

/**
 * The job files in deploy/ and the Dockerfile, checked against the code:
 * every command line parses with the CLI's own options, the scheduler
 * variables they rely on are the ones densekit reads, the shard count is
 * the same everywhere, and the merge step's pattern matches the files the
 * shards write.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const VERSION = (JSON.parse(read('package.json')) as { version: string }).version;

function srcText(dir = join(ROOT, 'src')): string {
  return readdirSync(dir)
    .map((n) => join(dir, n))
    .map((p) => (statSync(p).isDirectory() ? srcText(p) : p.endsWith('.ts') ? readFileSync(p, 'utf8') : ''))
    .join('\n');
}

/** Parse a densekit command line with the CLI's own commands (actions replaced): its options, or the CLI's error. */
function parseCli(args: string[]): { command: string; opts: Record<string, unknown>; operands: string[] } {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerPredict(program);
  registerMerge(program);
  registerEval(program);
  let got: { command: string; opts: Record<string, unknown>; operands: string[] } | undefined;
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) {
    c.exitOverride();
    c.action((...a: unknown[]) => {
      const cmd = a[a.length - 1] as Command;
      got = { command: [cmd.parent?.name() === 'eval' ? 'eval' : '', cmd.name()].filter(Boolean).join(' '), opts: cmd.opts(), operands: cmd.args };
    });
  }
  try {
    program.parse(args, { from: 'user' });
  } catch (err) {
    throw new Error(`densekit ${args.join(' ')}: ${err instanceof CommanderError ? err.message : String(err)}`);
  }
  if (!got) throw new Error(`densekit ${args.join(' ')}: no command ran`);
  return got;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  command?: string[];
  env?: { name: string; value: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface JobSpec {
  completionMode?: string;
  completions?: number;
  parallelism?: number;
  backoffLimitPerIndex?: number;
  template: { spec: { restartPolicy: string; containers: Container[]; initContainers?: Container[]; volumes: { name: string }[] } };
}

function job(file: string): { kind: string; metadata: { name: string }; spec: JobSpec } {
  const docs = parseAllDocuments(read(file));
  expect(docs).toHaveLength(1);
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs[0]!.toJS() as { kind: string; metadata: { name: string }; spec: JobSpec };
}

/** The path an argument names is on a mounted volume (writable when asked). */
function onVolume(c: Container, path: string, writable = false): boolean {
  return (c.volumeMounts ?? []).some((m) => (path === m.mountPath || path.startsWith(`${m.mountPath}/`)) && (!writable || !m.readOnly));
}

const KNOWN_ENV = srcText();

describe('deploy/kubernetes', () => {
  const predict = job('deploy/kubernetes/predict-job.yaml');
  const merge = job('deploy/kubernetes/merge-job.yaml');

  it('the prediction is an Indexed Job whose completions are the shard count densekit reads', () => {
    expect(predict.kind).toBe('Job');
    const s = predict.spec;
    expect(s.completionMode).toBe('Indexed');
    expect(s.parallelism).toBeLessThanOrEqual(s.completions!);
    if (s.backoffLimitPerIndex !== undefined) expect(s.template.spec.restartPolicy).toBe('Never');
    const c = s.template.spec.containers[0]!;
    expect(c.image).toBe(`densekit:${VERSION}`);
    const cli = parseCli(c.args);
    expect(cli.command).toBe('predict');
    expect(cli.opts.resume).toBe(true);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    for (let i = 0; i < s.completions!; i++) {
      // What Kubernetes sets in pod i of an Indexed Job.
      const shard = resolveShard({ shard: cli.opts.shard as string | undefined, shards: cli.opts.shards as number | undefined }, { ...env, [SHARD_ENV.k8sIndex]: String(i) });
      expect(shard).toMatchObject({ index: i, count: s.completions });
    }
    for (const name of Object.keys(env)) expect(KNOWN_ENV, `densekit reads ${name}`).toContain(name);
    // Inputs on volumes; results on a writable one.
    const vols = new Set(s.template.spec.volumes.map((v) => v.name));
    for (const m of c.volumeMounts ?? []) expect(vols.has(m.name)).toBe(true);
    for (const p of [cli.opts.config, cli.opts.weights, cli.opts.gt, ...(cli.opts.images as string[])]) expect(onVolume(c, p as string), String(p)).toBe(true);
    expect(onVolume(c, cli.opts.out as string, true)).toBe(true);
    // The graph cache: DENSEKIT_CACHE, or the image's /cache, on a writable volume.
    expect(onVolume(c, env.DENSEKIT_CACHE ?? /^ENV[\s\S]*DENSEKIT_CACHE=(\S+)/m.exec(read('Dockerfile'))![1]!, true)).toBe(true);
  });

  it('the merge job reads exactly the shard files the prediction writes, then evaluates the merged file', () => {
    const p = predict.spec.template.spec.containers[0]!;
    const out = parseCli(p.args).opts.out as string;
    const n = predict.spec.completions!;
    const [init] = merge.spec.template.spec.initContainers!;
    const m = parseCli(init!.args);
    expect(m.command).toBe('merge');
    for (let i = 0; i < n; i++) {
      const file = shardResultsPath(out, { index: i, count: n, source: '' });
      expect(m.operands.some((pattern) => matchesGlob(pattern, file)), file).toBe(true);
      // The log beside it is not taken for a shard.
      expect(m.operands.some((pattern) => matchesGlob(pattern, `${file}.log`))).toBe(false);
    }
    const e = parseCli(merge.spec.template.spec.containers[0]!.args);
    expect(e.command).toBe('eval coco');
    expect(e.opts.dt).toEqual([m.opts.out]);
    expect(onVolume(init!, out, true)).toBe(true);
    for (const c of [init!, merge.spec.template.spec.containers[0]!]) expect(c.image).toBe(p.image);
  });
});

/** A bash script's lines with continuations joined and comments dropped. */
function scriptLines(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Words of a command line, quotes removed (no expansion). */
function words(line: string): string[] {
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));
}

/** A word with the script's variables put in: `${V:-default}`, `${V%.json}`, `$V`. */
function expand(word: string, vars: Record<string, string>): string {
  return word
    .replace(/\$\{(\w+):-([^}]*)\}/g, (_, v: string, d: string) => vars[v] ?? d)
    .replace(/\$\{(\w+)%([^}]*)\}/g, (_, v: string, suffix: string) => (vars[v] ?? `$${v}`).replace(new RegExp(`${suffix.replace(/[.*]/g, '\\$&')}$`), ''))
    .replace(/\$(\w+)/g, (m, v: string) => vars[v] ?? m);
}

/** `NAME=${NAME:-default}` defaults of a script. */
function defaults(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^(?:export )?(\w+)=\$\{\1:-([^}]*)\}$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('deploy/slurm', () => {
  const predict = read('deploy/slurm/predict.sbatch');
  const merge = read('deploy/slurm/merge.sbatch');

  it('the array is a plain range whose tasks are the shards densekit reads from Slurm', () => {
    const array = /^#SBATCH --array=(\d+)-(\d+)$/m.exec(predict);
    expect(array, 'a plain --array=A-B range (densekit refuses steps and gaps)').not.toBeNull();
    const [a, b] = [Number(array![1]), Number(array![2])];
    expect(predict).toMatch(/^#SBATCH --requeue$/m);
    const line = scriptLines(predict).find((l) => / predict /.test(l))!;
    const cpus = /^#SBATCH --cpus-per-task=(\d+)$/m.exec(predict)![1]!;
    const argv = words(line).map((w) => expand(w, { ...defaults(predict), SLURM_CPUS_PER_TASK: cpus }));
    const cli = parseCli(argv.slice(argv.indexOf('predict')));
    expect(cli.opts.threads).toBe(Number(cpus));
    expect(cli.opts.resume).toBe(true);
    for (let t = a; t <= b; t++) {
      // What Slurm sets in array task t.
      const env = { SLURM_ARRAY_TASK_ID: String(t), SLURM_ARRAY_TASK_MIN: String(a), SLURM_ARRAY_TASK_MAX: String(b), SLURM_ARRAY_TASK_COUNT: String(b - a + 1) };
      expect(resolveShard({ shard: cli.opts.shard as string | undefined, shards: cli.opts.shards as number | undefined }, env)).toMatchObject({ index: t - a, count: b - a + 1 });
    }
    for (const name of [...predict.matchAll(/\b(DENSEKIT_\w+|SLURM_ARRAY_\w+)/g)].map((m) => m[1]!)) expect(KNOWN_ENV, `densekit reads ${name}`).toContain(name);
  });

  it('the merge step reads the shard files of the same output and evaluates the merged file', () => {
    const dp = defaults(predict);
    const dm = defaults(merge);
    expect(dm.OUT).toBe(dp.OUT);
    expect(dm.GT).toBe(dp.GT);
    const out = dp.OUT!;
    const lines = scriptLines(merge).filter((l) => l.startsWith('$DENSEKIT '));
    const m = parseCli(words(lines[0]!).slice(1).map((w) => expand(w, dm)));
    expect(m.command).toBe('merge');
    const array = /^#SBATCH --array=(\d+)-(\d+)$/m.exec(predict)!;
    const n = Number(array[2]) - Number(array[1]) + 1;
    for (let i = 0; i < n; i++) {
      const file = shardResultsPath(out, { index: i, count: n, source: '' });
      expect(m.operands.some((pattern) => matchesGlob(pattern, file)), file).toBe(true);
    }
    for (const l of lines.slice(1)) {
      const e = parseCli(words(l).slice(1).map((w) => expand(w, dm)));
      expect(e.command).toBe('eval coco');
      expect(e.opts.dt).toEqual([m.opts.out]);
    }
    expect(read('deploy/slurm/submit.sh')).toMatch(/--dependency=afterok:/);
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');

  it('node:20-slim, npm ci, and the densekit command as its entrypoint', () => {
    expect(text).toMatch(/^FROM node:20-slim$/m);
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/^ENTRYPOINT \["densekit"\]$/m);
    const link = /ln -s (\S+) \/usr\/local\/bin\/densekit/.exec(text);
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.densekit!;
    expect(link![1]).toBe(posix.join('/opt/densekit', bin));
    expect(text).toContain(`densekit:${VERSION}`);
  });

  // Building needs a Docker daemon (and minutes of npm ci): only where one answers; DENSEKIT_TEST_DOCKER=0 skips it.
  const docker = process.env.DENSEKIT_TEST_DOCKER !== '0' && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  it.runIf(docker)('builds, and the image runs densekit', () => {
    execFileSync('docker', ['build', '-t', `densekit:${VERSION}`, ROOT], { stdio: 'inherit', timeout: 900_000 });
    const help = execFileSync('docker', ['run', '--rm', `densekit:${VERSION}`, 'predict', '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/--shard <I\/N>/);
    expect(help).toMatch(/--resume/);
  }, 1_000_000);
});

