import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseShard, resolveShard, shardPositions, shardResultsPath, sortedImageList } from '../../src/tasks/shards.js';
import { expandGlobs } from '../../src/tasks/inputs.js';
import { formatDuration, progressLine, progressOf } from '../../src/util/progress.js';

describe('shards', () => {
  it('parses I/N and refuses what is not a shard', () => {
    expect(parseShard('2/8')).toMatchObject({ index: 2, count: 8 });
    expect(parseShard(' 0 / 1 ')).toMatchObject({ index: 0, count: 1 });
    expect(() => parseShard('8/8')).toThrow(/0-based/);
    expect(() => parseShard('1/0')).toThrow(/at least 1/);
    expect(() => parseShard('a/b')).toThrow(/I\/N/);
    expect(() => parseShard('-1/4')).toThrow(/I\/N/);
  });

  it('reads Slurm job arrays: with TASK_COUNT, with MIN/MAX, offset by MIN; refuses steps and gaps', () => {
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '8' })).toMatchObject({ index: 3, count: 8 });
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '7' })).toMatchObject({ index: 3, count: 8 });
    // --array=1-8: task ids 1..8 are shards 0..7.
    expect(resolveShard({}, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '8', SLURM_ARRAY_TASK_COUNT: '8' })).toMatchObject({ index: 0, count: 8 });
    expect(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '12', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_STEP: '4' })).toThrow(/step/);
    expect(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '5', SLURM_ARRAY_TASK_COUNT: '3' })).toThrow(/gaps/);
    expect(() => resolveShard({}, { SLURM_ARRAY_TASK_ID: '5' })).toThrow(/SLURM_ARRAY_TASK_COUNT/);
    expect(() => resolveShard({ shards: 4 }, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '8' })).toThrow(/disagrees/);
  });

  it('reads Kubernetes Indexed Jobs with --shards or DENSEKIT_SHARDS', () => {
    expect(resolveShard({ shards: 4 }, { JOB_COMPLETION_INDEX: '2' })).toMatchObject({ index: 2, count: 4 });
    expect(resolveShard({}, { JOB_COMPLETION_INDEX: '2', DENSEKIT_SHARDS: '4' })).toMatchObject({ index: 2, count: 4 });
    expect(() => resolveShard({}, { JOB_COMPLETION_INDEX: '2' })).toThrow(/DENSEKIT_SHARDS/);
    expect(() => resolveShard({}, { JOB_COMPLETION_INDEX: '4', DENSEKIT_SHARDS: '4' })).toThrow(/not below/);
    expect(() => resolveShard({ shards: 3 }, { JOB_COMPLETION_INDEX: '1', DENSEKIT_SHARDS: '4' })).toThrow(/disagree/);
  });

  it('--shard wins over the environment; nothing set means no shard; --shards alone is refused', () => {
    expect(resolveShard({ shard: '1/2' }, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '8' })).toMatchObject({ index: 1, count: 2 });
    expect(resolveShard({}, {})).toBeUndefined();
    expect(() => resolveShard({ shards: 3 }, {})).toThrow(/no index/);
  });

  it('splits the sorted list k mod N, covering every image once', () => {
    const files = sortedImageList(['b.png', 'a.png', 'c.png', 'a.png', 'B.png']);
    expect(files).toEqual(['B.png', 'a.png', 'b.png', 'c.png']);
    const N = 3;
    const parts = [0, 1, 2].map((i) => shardPositions(10, { index: i, count: N, source: '' }));
    expect(parts[1]).toEqual([1, 4, 7]);
    expect(parts.flat().sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(shardPositions(3, undefined)).toEqual([0, 1, 2]);
  });

  it('names a shard file after -o', () => {
    const s = { index: 2, count: 8, source: '' };
    expect(shardResultsPath('out/val.json', s)).toBe(join('out', 'val.shard-2-of-8.jsonl'));
    expect(shardResultsPath('val', s)).toBe('val.shard-2-of-8.jsonl');
  });
});

describe('globs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-glob-'));
    mkdirSync(join(dir, 'a1'));
    mkdirSync(join(dir, 'a2'));
    for (const f of ['a1/x.shard-0-of-2.jsonl', 'a1/x.shard-1-of-2.jsonl', 'a2/x.shard-0-of-2.jsonl', 'a1/.hidden.jsonl', 'a1/y.json']) writeFileSync(join(dir, f), '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('expands *, ? and [..] in any segment, sorted; keeps plain names; refuses a pattern matching nothing', () => {
    expect(expandGlobs([join(dir, 'a1', '*.jsonl')])).toEqual([join(dir, 'a1/x.shard-0-of-2.jsonl'), join(dir, 'a1/x.shard-1-of-2.jsonl')]);
    expect(expandGlobs([join(dir, 'a?', 'x.shard-0-of-2.jsonl')])).toEqual([join(dir, 'a1/x.shard-0-of-2.jsonl'), join(dir, 'a2/x.shard-0-of-2.jsonl')]);
    expect(expandGlobs([join(dir, 'a1', 'x.shard-[1]-of-2.jsonl')])).toEqual([join(dir, 'a1/x.shard-1-of-2.jsonl')]);
    expect(expandGlobs(['no/such/file.json'])).toEqual(['no/such/file.json']);
    expect(() => expandGlobs([join(dir, '*.none')])).toThrow(/no file matches/);
  });
});

describe('progress for long runs', () => {
  it('formats durations and lines with rate and ETA from the images done here', () => {
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(192)).toBe('3m12s');
    expect(formatDuration(6480)).toBe('1h48m');
    expect(progressLine('predict shard 1/4', 300, 1000, 200, 100, 100)).toBe('predict shard 1/4: 300/1000 images (30.0%), 2.00 img/s, elapsed 1m40s, ETA 5m50s, 100 resumed');
    expect(progressLine('predict', 10, 100, 10, 25, 0)).toMatch(/2\.50 s\/img, elapsed 25s, ETA 3m45s$/);
  });

  it('prints a plain line every N images off a terminal, and one at the end', () => {
    const lines: string[] = [];
    let t = 0;
    const p = progressOf('predict', { enabled: false, every: 2, write: (l) => lines.push(l), now: () => t });
    p.start(4, 10);
    for (let d = 5; d <= 9; d++) {
      t += 1000;
      p.update(d, 10);
    }
    p.stop();
    expect(lines).toEqual([
      'predict: 6/10 images (60.0%), 1.00 img/s, elapsed 2s, ETA 4s, 4 resumed',
      'predict: 8/10 images (80.0%), 1.00 img/s, elapsed 4s, ETA 2s, 4 resumed',
      'predict: 9/10 images (90.0%), 1.00 img/s, elapsed 5s, ETA 1s, 4 resumed',
    ]);
  });
});
