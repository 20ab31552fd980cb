import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planPrediction, runPrediction, finishCocoList, finishRecords, countResults, skippedOf, isCompleteFile, type PredictionPlan, type Predictor } from '../../src/tasks/predict-run.js';
import { RecordLog } from '../../src/tasks/results-log.js';
import { classifyInputs, mergeDetections } from '../../src/tasks/merge.js';
import { shardResultsPath, type ShardSpec } from '../../src/tasks/shards.js';

/** A fake detector: deterministic results per image, image "bad.png" unreadable. */
function fakePredictor(calls: number[]): Predictor {
  return {
    async predict(img) {
      calls.push(img.k);
      if (img.file.endsWith('bad.png')) return { skipped: 'cannot decode' };
      const results = Array.from({ length: img.k % 3 }, (_, j) => ({ image_id: img.imageId, category_id: 1 + j, bbox: [j, img.k, 10.5, 3.25], score: 0.9 - j / 10 }));
      return { image_id: img.imageId, results };
    },
    async dispose() {},
  };
}

describe('prediction logs and shard files', () => {
  let dir: string;
  let weights: string;
  const files = Array.from({ length: 10 }, (_, i) => `img/${String(i).padStart(3, '0')}${i === 4 ? 'bad' : ''}.png`);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-records-'));
    weights = join(dir, 'w.safetensors');
    writeFileSync(weights, 'weights-bytes');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const plan = (shard?: ShardSpec, options: Record<string, unknown> = { scoreThreshold: 0 }): PredictionPlan =>
    planPrediction({ task: 'detection', weights, config: { model: 1 }, files: [...files].reverse(), options, shard });

  async function run(p: PredictionPlan, out: string, resume = false, calls: number[] = []) {
    const r = await runPrediction(p, `${out}.log`, { resume, open: async () => fakePredictor(calls) });
    const skipped = skippedOf(p, r.log);
    return { r, skipped, calls };
  }

  it('an uninterrupted run writes the COCO list in list order and removes its log', async () => {
    const out = join(dir, 'all.json');
    const { r, skipped } = await run(plan(), out);
    expect(skipped).toEqual([{ file: 'img/004bad.png', reason: 'cannot decode' }]);
    const n = finishCocoList(plan(), r.log, out);
    const list = JSON.parse(readFileSync(out, 'utf8')) as { image_id: number }[];
    expect(list).toHaveLength(n);
    expect(list.map((d) => d.image_id)).toEqual([...list.map((d) => d.image_id)].sort((a, b) => a - b));
    expect(existsSync(`${out}.log`)).toBe(false);
  });

  it('resuming after a kill (a torn last line) predicts only what is missing and ends with the same file', async () => {
    const ref = join(dir, 'ref.json');
    const a = await run(plan(), ref);
    finishCocoList(plan(), a.r.log, ref);

    const out = join(dir, 'out.json');
    // A run that stopped after 6 images, the last line torn mid-write.
    const p = plan();
    const { log } = RecordLog.open(`${out}.log`, p.header, { resume: false });
    const pred = fakePredictor([]);
    for (const img of p.mine.slice(0, 6)) log.append({ k: img.k, file: img.file, ...(await pred.predict(img)) });
    log.close();
    appendFileSync(`${out}.log`, '{"k":6,"file":"img/006.png","image_id":7,"resu');

    const calls: number[] = [];
    const b = await run(plan(), out, true, calls);
    // Image 4 was skipped (unreadable): it is tried again; 6.. were never finished.
    expect(calls).toEqual([4, 6, 7, 8, 9]);
    expect(b.r.resumed).toBe(5);
    expect(b.r.notes.join()).toMatch(/torn last line/);
    finishCocoList(plan(), b.r.log, out);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(ref, 'utf8'));
  });

  it('refuses to resume a log of another run, naming what differs', async () => {
    const out = join(dir, 'x.json');
    const p = plan();
    RecordLog.open(`${out}.log`, p.header, { resume: false }).log.close();
    const other = plan(undefined, { scoreThreshold: 0.5 });
    await expect(runPrediction(other, `${out}.log`, { resume: true, open: async () => fakePredictor([]) })).rejects.toThrow(/another run \(options differ/);
    writeFileSync(weights, 'other weights');
    await expect(runPrediction(plan(), `${out}.log`, { resume: true, open: async () => fakePredictor([]) })).rejects.toThrow(/weights differ/);
  });

  it('3 shards merge into exactly the unsharded file; merge refuses missing, unfinished, duplicate and foreign shards', async () => {
    const ref = join(dir, 'ref.json');
    const a = await run(plan(), ref);
    finishCocoList(plan(), a.r.log, ref);

    const out = join(dir, 'val.json');
    const shardFiles: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = { index: i, count: 3, source: 'test' };
      const p = plan(s);
      const f = shardResultsPath(out, s);
      const { r } = await run(p, f);
      finishRecords(p, r.log, f, countResults(p, r.log));
      expect(isCompleteFile(f, p)).toBe(true);
      shardFiles.push(f);
    }
    const merged = join(dir, 'merged.json');
    const m = mergeDetections(classifyInputs([shardFiles[2]!, shardFiles[0]!, shardFiles[1]!]), merged);
    expect(m.images).toBe(10);
    expect(m.skipped).toHaveLength(1);
    expect(readFileSync(merged, 'utf8')).toBe(readFileSync(ref, 'utf8'));

    expect(() => classifyInputs(shardFiles.slice(0, 2))).toThrow(/missing shard 2 of 3/);
    expect(() => classifyInputs([...shardFiles, shardFiles[1]!])).toThrow(/given twice/);
    // A shard of another run (other options).
    const s1 = { index: 1, count: 3, source: 'test' };
    const foreign = plan(s1, { scoreThreshold: 0.3 });
    const ff = join(dir, 'other.shard-1-of-3.jsonl');
    const fr = await run(foreign, ff);
    finishRecords(foreign, fr.r.log, ff, 0);
    expect(() => classifyInputs([shardFiles[0]!, ff, shardFiles[2]!])).toThrow(/shards of different runs: options differ/);
    // An unfinished shard (its log).
    const s2 = { index: 2, count: 3, source: 'test' };
    const pl = plan(s2);
    const logFile = join(dir, 'partial.jsonl');
    RecordLog.open(logFile, pl.header, { resume: false }).log.close();
    expect(() => classifyInputs([shardFiles[0]!, shardFiles[1]!, logFile])).toThrow(/unfinished.*--resume/);
    // Shards and plain lists do not mix; plain lists concatenate.
    expect(() => classifyInputs([shardFiles[0]!, ref])).toThrow(/cannot mix/);
    const cat = join(dir, 'cat.json');
    mergeDetections(classifyInputs([ref, ref]), cat);
    const twice = JSON.parse(readFileSync(cat, 'utf8')) as unknown[];
    expect(twice).toEqual([...(JSON.parse(readFileSync(ref, 'utf8')) as unknown[]), ...(JSON.parse(readFileSync(ref, 'utf8')) as unknown[])]);
  });
});
