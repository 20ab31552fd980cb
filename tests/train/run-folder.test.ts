import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetrics, readEvalRecord, readMetrics, RUN_FILES, runPaths, writeEvalRecord } from '../../src/train/run-folder.js';
import { MetricsLog } from '../../src/train/metrics-log.js';

describe('run folder files', () => {
  it('metrics: a torn last line (a write cut short by a kill) is dropped, any other bad line names its number', () => {
    const text = '{"iter":1,"total_loss":2}\n{"iter":2,"total_loss":1.5}\n{"iter":3,"tot';
    expect(parseMetrics(text, 'm.jsonl').map((r) => r.iter)).toEqual([1, 2]);
    expect(() => parseMetrics('{"iter":1}\nnot json\n', 'm.jsonl')).toThrow('m.jsonl: line 2 is not valid JSON');
    expect(() => parseMetrics('{"iter":"x"}\n', 'm.jsonl')).toThrow('line 1 is not a metrics record');
  });

  it('resuming keeps the records up to the resumed iteration, dropping a torn tail', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-run-'));
    writeFileSync(runPaths(dir).metrics, '{"iter":10,"total_loss":2}\n{"iter":20,"type":"eval","bbox_AP":0.1}\n{"iter":30,"total_loss":1}\n{"iter":4');
    const log = new MetricsLog(runPaths(dir).metrics, 20);
    log.write({ iter: 30, total_loss: 0.9 });
    expect(readMetrics(dir).map((r) => [r.iter, r.type ?? 'train'])).toEqual([
      [10, 'train'],
      [20, 'eval'],
      [30, 'train'],
    ]);
  });

  it('eval.json round-trips and is checked when read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-run-'));
    expect(readEvalRecord(dir)).toBeUndefined();
    writeEvalRecord(dir, { mIoU: 0.5, mAcc: 0.6, aAcc: 0.7 });
    expect(readEvalRecord(dir)).toEqual({ mIoU: 0.5, mAcc: 0.6, aAcc: 0.7 });
    writeFileSync(join(dir, RUN_FILES.evaluation), '{"bbox": [1, "x"]}');
    expect(() => readEvalRecord(dir)).toThrow('not an evaluation record');
  });
});
