import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SemanticEvaluator, reduceZeroLabel } from '../../eval/src/index.js';
import { evaluateSemanticDirs } from '../../src/tasks/semantic/evaluate.js';
import { fixture } from '../helpers/fixtures.js';

interface Expected {
  summary_f64: { aAcc: number; mIoU: number; mAcc: number };
  per_class: { class_index: number; area_intersect: number; area_union: number; area_pred_label: number; area_label: number; IoU_f64: number | null; Acc_f64: number | null }[];
}

describe('ADE20K evaluation (mmseg semantics)', () => {
  it('reduces zero label as mmseg on uint8', () => {
    expect(reduceZeroLabel(0)).toBe(255);
    expect(reduceZeroLabel(1)).toBe(0);
    expect(reduceZeroLabel(150)).toBe(149);
    expect(reduceZeroLabel(151)).toBe(150);
    expect(reduceZeroLabel(254)).toBe(253);
    expect(reduceZeroLabel(255)).toBe(255);
  });

  it('counts out-of-range labels in the prediction histogram only', () => {
    const ev = new SemanticEvaluator({ numClasses: 3, reduceZeroLabel: true });
    // raw labels: 0 (ignored), 1 → 0, 4 → 3 (out of range), 255 (ignored)
    ev.add([0, 0, 1, 2], [0, 1, 4, 255]);
    const m = ev.metrics();
    expect(Array.from(m.areaPred)).toEqual([1, 1, 0]);
    expect(Array.from(m.areaLabel)).toEqual([1, 0, 0]);
    expect(Array.from(m.areaIntersect)).toEqual([1, 0, 0]);
    expect(m.iou[1]).toBe(0);
    expect(Number.isNaN(m.acc[1]!)).toBe(true);
    expect(Number.isNaN(m.iou[2]!)).toBe(true);
  });

  for (const set of ['set-basic', 'set-many', 'set-edge']) {
    it(`${set}: summary to 1e-6 and per-class IoU/Acc against the f64 reference`, async () => {
      const dir = fixture('ade20k-eval', set);
      const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as Expected;
      const r = await evaluateSemanticDirs(`${dir}/annotations`, `${dir}/predictions`, 150, true);
      expect(Math.abs(r.aAcc - expected.summary_f64.aAcc)).toBeLessThan(1e-6);
      expect(Math.abs(r.mIoU - expected.summary_f64.mIoU)).toBeLessThan(1e-6);
      expect(Math.abs(r.mAcc - expected.summary_f64.mAcc)).toBeLessThan(1e-6);
      for (const pc of expected.per_class) {
        const got = r.perClass[pc.class_index]!;
        if (pc.IoU_f64 === null) expect(got.iou).toBeNull();
        else expect(Math.abs(got.iou! - pc.IoU_f64)).toBeLessThan(1e-12);
        if (pc.Acc_f64 === null) expect(got.acc).toBeNull();
        else expect(Math.abs(got.acc! - pc.Acc_f64)).toBeLessThan(1e-12);
      }
    });
  }
});
