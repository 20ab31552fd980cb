import { describe, expect, it } from 'vitest';
import { batchedNms, nms } from '../../src/detection/nms.js';
import { softNms } from '../../src/detection/soft-nms.js';
import { get, torchRef, values } from '../helpers/fixtures.js';

describe('NMS (torchvision parity)', () => {
  const ref = torchRef('nms.safetensors');
  const boxes = values(get(ref, 'boxes')) as Float32Array;
  const scores = values(get(ref, 'scores'));
  const classes = values(get(ref, 'classes'));
  for (const t of ['0.5', '0.7']) {
    it(`nms and batched_nms at IoU ${t}: same indices, same order (ties included)`, () => {
      expect(nms(boxes, scores, Number(t))).toEqual(Array.from(values(get(ref, `nms_keep_iou${t}`))));
      expect(batchedNms(boxes, scores, classes, Number(t))).toEqual(Array.from(values(get(ref, `batched_nms_keep_iou${t}`))));
    });
  }
});

describe("Soft-NMS (the authors' implementation)", () => {
  const ref = torchRef('soft_nms.safetensors');
  const dets = values(get(ref, 'dets_in'));
  const n = dets.length / 5;
  const boxes = new Float32Array(n * 4);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    boxes.set(dets.subarray(i * 5, i * 5 + 4), i * 4);
    scores[i] = dets[i * 5 + 4]!;
  }
  const methods = { 0: 'hard', 1: 'linear', 2: 'gaussian' } as const;
  for (const m of [0, 1, 2] as const) {
    for (const nt of ['0.3', '0.5']) {
      it(`${methods[m]} Nt=${nt}: kept boxes, order and rescored scores`, () => {
        const prefix = `method${m}_Nt${nt}`;
        const nKeep = get(ref, `${prefix}_keep`).shape[0]!;
        const out = values(get(ref, `${prefix}_boxes_out`));
        const orig = values(get(ref, `${prefix}_orig_index`));
        const r = softNms(boxes, scores, { method: methods[m], iouThreshold: Number(nt), sigma: 0.5, minScore: 0.001, variant: 'authors' });
        expect(r.keep).toEqual(Array.from(orig.subarray(0, nKeep)));
        for (let k = 0; k < nKeep; k++) expect(Math.abs(r.scores[k]! - out[k * 5 + 4]!)).toBeLessThan(1e-6);
      });
    }
  }

  it('the mmcv variant decays at iou >= threshold with 0 offset and checks every box', () => {
    const b = Float32Array.from([0, 0, 10, 10, 0, 0, 10, 5, 50, 50, 60, 60]);
    // Box 1 overlaps box 0 with IoU exactly 0.5; box 2 does not overlap but starts below minScore.
    const r = softNms(b, [0.9, 0.8, 0.0005], { method: 'linear', iouThreshold: 0.5, sigma: 0.5, minScore: 0.001, variant: 'mmcv' });
    expect(r.keep).toEqual([0, 1]);
    expect(r.scores[1]).toBeCloseTo(0.4, 6);
    const a = softNms(b, [0.9, 0.8, 0.0005], { method: 'linear', iouThreshold: 0.5, sigma: 0.5, minScore: 0.001, variant: 'authors' });
    expect(a.keep).toEqual([0, 1, 2]);
  });
});
