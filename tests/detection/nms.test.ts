import { describe, expect, it } from 'vitest';
import { BATCHED_NMS_PER_CLASS_ABOVE, batchedNms, nms, offsetByClass } from '../../src/detection/nms.js';
import { BATCHED_SOFT_NMS_PER_CLASS_ABOVE, batchedSoftNms, softNms } from '../../src/detection/soft-nms.js';
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

describe('batched NMS on many boxes (class by class, as torchvision and mmcv on CPU)', () => {
  /** Integer boxes in [0, 100]: offset coordinates stay exact in float32, so both paths compute the same IoUs. */
  function scene(n: number, numClasses: number, seed: number) {
    let s = seed;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const boxes = new Float32Array(n * 4);
    const classes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = Math.floor(rand() * 80);
      const y = Math.floor(rand() * 80);
      boxes.set([x, y, x + 1 + Math.floor(rand() * 20), y + 1 + Math.floor(rand() * 20)], i * 4);
      classes[i] = Math.floor(rand() * numClasses);
    }
    // Distinct scores, so the order is fully determined.
    const scores = Float32Array.from({ length: n }, (_, i) => (i * 7919) % n / n + 1e-3);
    return { boxes, classes, scores };
  }

  it('keeps what one pass over offset boxes keeps, in the same order', () => {
    const { boxes, classes, scores } = scene(BATCHED_NMS_PER_CLASS_ABOVE + 500, 7, 3);
    expect(batchedNms(boxes, scores, classes, 0.5)).toEqual(nms(offsetByClass(boxes, classes), scores, 0.5));
  });

  it('Soft-NMS keeps the same boxes with the same decayed scores, sorted by them', () => {
    const { boxes, classes, scores } = scene(BATCHED_SOFT_NMS_PER_CLASS_ABOVE + 500, 40, 5);
    const opts = { method: 'linear' as const, iouThreshold: 0.3, sigma: 0.5, minScore: 1e-3, variant: 'mmcv' as const };
    const perClass = batchedSoftNms(boxes, scores, classes, opts);
    const onePass = softNms(offsetByClass(boxes, classes), scores, opts);
    // Same (box, score) pairs; decayed scores can tie, so compare them by box index.
    const pairs = (r: { keep: number[]; scores: Float32Array }) => r.keep.map((k, j) => [k, r.scores[j]!]).sort((a, b) => a[0]! - b[0]!);
    expect(pairs(perClass)).toEqual(pairs(onePass));
    for (let j = 1; j < perClass.scores.length; j++) expect(perClass.scores[j]!).toBeLessThanOrEqual(perClass.scores[j - 1]!);
  });
});
