import { basename, dirname, extname, join } from 'node:path';
import { DensekitError } from '../util/errors.js';

/**
 * Splitting an image list across the tasks of a job array.
 *
 * The rule: the full image list is sorted (by path, in code-unit order,
 * duplicates dropped) and image k of it (0-based) belongs to shard k mod N.
 * Shard indices are 0-based: `--shard 0/4` … `--shard 3/4`. Every shard
 * sees the whole list, so image ids taken from positions are the same in
 * every shard and a merge puts image k back at position k.
 */

/** One shard of N, and where that was read from. */
export interface ShardSpec {
  index: number;
  count: number;
  /** For the user: `--shard 2/8`, `SLURM_ARRAY_TASK_ID=2 of SLURM_ARRAY_TASK_COUNT=8`, … */
  source: string;
}

/** The environment variables the shard is read from, when `--shard` is not given. */
export const SHARD_ENV = {
  slurmId: 'SLURM_ARRAY_TASK_ID',
  slurmCount: 'SLURM_ARRAY_TASK_COUNT',
  slurmMin: 'SLURM_ARRAY_TASK_MIN',
  slurmMax: 'SLURM_ARRAY_TASK_MAX',
  slurmStep: 'SLURM_ARRAY_TASK_STEP',
  k8sIndex: 'JOB_COMPLETION_INDEX',
  shards: 'DENSEKIT_SHARDS',
} as const;

function int(value: string, what: string): number {
  const v = value.trim();
  if (!/^\d+$/.test(v)) throw new DensekitError(`${what} must be a non-negative integer, got "${value}"`);
  return Number(v);
}

function check(index: number, count: number, source: string): ShardSpec {
  if (count < 1) throw new DensekitError(`${source}: the shard count must be at least 1`);
  if (index >= count) throw new DensekitError(`${source}: shard index ${index} is not below the shard count ${count} (indices are 0-based)`);
  return { index, count, source };
}

/** `I/N` as given to `--shard`. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new DensekitError(`--shard must be I/N (0-based index, shard count), e.g. 0/4; got "${text}"`);
  return check(Number(m[1]), Number(m[2]), `--shard ${text.trim()}`);
}

/**
 * The shard this process runs: `--shard I/N` when given; else a Slurm job
 * array (`SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, or with
 * `SLURM_ARRAY_TASK_MIN`/`_MAX`: index = ID − MIN); else a Kubernetes
 * Indexed Job (`JOB_COMPLETION_INDEX`, the count from `--shards N` or
 * `DENSEKIT_SHARDS`). Undefined when none applies (one unsharded run).
 * An array with a step or a gap (`--array=0-15:4`, `--array=1,3,5`) is
 * refused: its tasks would not cover 0..N-1.
 */
export function resolveShard(opts: { shard?: string; shards?: number }, env: NodeJS.ProcessEnv = process.env): ShardSpec | undefined {
  if (opts.shard !== undefined) {
    const s = parseShard(opts.shard);
    if (opts.shards !== undefined && opts.shards !== s.count) throw new DensekitError(`--shard ${opts.shard} and --shards ${opts.shards} disagree on the shard count`);
    return s;
  }
  const E = SHARD_ENV;
  const id = env[E.slurmId];
  if (id !== undefined && id !== '') {
    const task = int(id, E.slurmId);
    const step = env[E.slurmStep];
    if (step !== undefined && step !== '' && int(step, E.slurmStep) !== 1) {
      throw new DensekitError(`${E.slurmStep}=${step}: a job array with a step does not cover every shard; submit it as --array=0-(N-1)`);
    }
    const minS = env[E.slurmMin];
    const maxS = env[E.slurmMax];
    const countS = env[E.slurmCount];
    const min = minS !== undefined && minS !== '' ? int(minS, E.slurmMin) : 0;
    let count: number;
    let source: string;
    if (countS !== undefined && countS !== '') {
      count = int(countS, E.slurmCount);
      source = `${E.slurmId}=${task}, ${E.slurmCount}=${count}`;
      if (maxS !== undefined && maxS !== '' && int(maxS, E.slurmMax) - min + 1 !== count) {
        throw new DensekitError(`${E.slurmMin}..${E.slurmMax} (${min}..${maxS}) spans other tasks than ${E.slurmCount}=${count}: an array with gaps or a step does not cover every shard; submit it as --array=0-(N-1)`);
      }
    } else if (maxS !== undefined && maxS !== '') {
      count = int(maxS, E.slurmMax) - min + 1;
      source = `${E.slurmId}=${task}, ${E.slurmMin}..${E.slurmMax}=${min}..${maxS}`;
    } else {
      throw new DensekitError(`${E.slurmId} is set but neither ${E.slurmCount} nor ${E.slurmMax}: cannot tell the shard count (give --shard I/N)`);
    }
    if (task < min) throw new DensekitError(`${E.slurmId}=${task} is below ${E.slurmMin}=${min}`);
    if (opts.shards !== undefined && opts.shards !== count) throw new DensekitError(`--shards ${opts.shards} disagrees with the Slurm array (${source})`);
    return check(task - min, count, source);
  }
  const k8s = env[E.k8sIndex];
  if (k8s !== undefined && k8s !== '') {
    const index = int(k8s, E.k8sIndex);
    const fromEnv = env[E.shards];
    const count = opts.shards ?? (fromEnv !== undefined && fromEnv !== '' ? int(fromEnv, E.shards) : undefined);
    if (count === undefined) throw new DensekitError(`${E.k8sIndex}=${k8s} is set but the shard count is not: give --shards N or set ${E.shards} (the Job's completions)`);
    if (opts.shards !== undefined && fromEnv !== undefined && fromEnv !== '' && int(fromEnv, E.shards) !== opts.shards) {
      throw new DensekitError(`--shards ${opts.shards} and ${E.shards}=${fromEnv} disagree`);
    }
    return check(index, count, `${E.k8sIndex}=${index}, ${opts.shards !== undefined ? `--shards ${count}` : `${E.shards}=${count}`}`);
  }
  if (opts.shards !== undefined) {
    throw new DensekitError(`--shards ${opts.shards} names a count but no index: give --shard I/N, or run as a Slurm job array or a Kubernetes Indexed Job`);
  }
  return undefined;
}

/** The sorted, de-duplicated list the shards split (code-unit order of the paths). */
export function sortedImageList(files: readonly string[]): string[] {
  return [...new Set(files)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The positions k (0-based, in the sorted list of `total`) that belong to a shard: k mod N = I. */
export function shardPositions(total: number, shard: ShardSpec | undefined): number[] {
  const out: number[] = [];
  const n = shard?.count ?? 1;
  for (let k = shard?.index ?? 0; k < total; k += n) out.push(k);
  return out;
}

/** `shard-I-of-N`, the tag in a shard's file names. */
export function shardTag(shard: ShardSpec): string {
  return `shard-${shard.index}-of-${shard.count}`;
}

/**
 * A detector shard's results file: the `-o` path with its `.json` or
 * `.jsonl` extension replaced by `.shard-I-of-N.jsonl`
 * (`val.json` → `val.shard-2-of-8.jsonl`).
 */
export function shardResultsPath(out: string, shard: ShardSpec): string {
  const ext = extname(out).toLowerCase();
  const stem = ext === '.json' || ext === '.jsonl' ? basename(out, extname(out)) : basename(out);
  return join(dirname(out), `${stem}.${shardTag(shard)}.jsonl`);
}
