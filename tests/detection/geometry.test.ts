import { describe, expect, it } from 'vitest';
import { cellAnchors, gridAnchors } from '../../src/detection/anchor-generator.js';
import { BoxCoder, SCALE_CLAMP } from '../../src/detection/box-coder.js';
import { matchPredictions } from '../../src/detection/matcher.js';
import { sampleLabels } from '../../src/detection/sampler.js';
import { MultiLevelRoiPooler } from '../../src/detection/pooler.js';
import { pasteMask } from '../../src/detection/postprocess.js';
import { pairwiseIou } from '../../src/structures/boxes.js';
import { Rng } from '../../src/engine/random.js';
import { rleArea, rleDecode } from '@densekit/eval';

describe('anchors', () => {
  it('cell anchors keep the area and set h/w to the ratio (detectron2)', () => {
    const c = cellAnchors(32, [0.5, 1, 2]);
    for (let i = 0; i < 3; i++) {
      const w = c[i * 4 + 2]! - c[i * 4]!;
      const h = c[i * 4 + 3]! - c[i * 4 + 1]!;
      expect(w * h).toBeCloseTo(1024, 3);
      expect(h / w).toBeCloseTo([0.5, 1, 2][i]!, 5);
      expect(c[i * 4]! + c[i * 4 + 2]!).toBeCloseTo(0, 6);
    }
  });
  it('grid anchors are ordered (y, x, anchor) with offset 0', () => {
    const a = gridAnchors(cellAnchors(8, [1, 2]), 2, 3, 4);
    expect(a.length).toBe(2 * 3 * 2 * 4);
    // second row, third column, first anchor: centred at (8, 4)
    const i = (1 * 3 + 2) * 2;
    expect((a[i * 4]! + a[i * 4 + 2]!) / 2).toBeCloseTo(8);
    expect((a[i * 4 + 1]! + a[i * 4 + 3]!) / 2).toBeCloseTo(4);
  });
});

describe('box coder', () => {
  it('decode(encode(x)) round-trips with weights', () => {
    const coder = new BoxCoder([10, 10, 5, 5]);
    const src = Float32Array.from([10, 20, 50, 80, 0, 0, 4, 4]);
    const dst = Float32Array.from([12, 18, 60, 70, 1, 2, 9, 3]);
    const back = coder.decode(coder.encode(src, dst), src);
    for (let i = 0; i < 8; i++) expect(back[i]).toBeCloseTo(dst[i]!, 3);
  });
  it('clamps dw/dh at log(1000/16)', () => {
    const coder = new BoxCoder();
    const out = coder.decode([0, 0, 100, 0], Float32Array.from([0, 0, 10, 10]));
    expect(out[2]! - out[0]!).toBeCloseTo(10 * Math.exp(SCALE_CLAMP), 2);
  });
});

describe('matcher and sampler', () => {
  it('labels by thresholds and adds low-quality matches (ties included)', () => {
    const gt = Float32Array.from([0, 0, 10, 10]);
    const preds = Float32Array.from([0, 0, 10, 10, 0, 0, 10, 5, 20, 20, 30, 30, 0, 0, 3, 10, 0, 0, 3, 10]);
    const iou = pairwiseIou(gt, preds);
    const m = matchPredictions(iou, 1, 5, [0.3, 0.7], [0, -1, 1], false);
    // IoUs 1, 0.5, 0, 0.3, 0.3: the 0.3 boxes sit on the lower threshold, inside the ignore band.
    expect(Array.from(m.labels)).toEqual([1, -1, 0, -1, -1]);
    const only = pairwiseIou(gt, Float32Array.from([0, 0, 3, 10, 0, 0, 3, 10, 20, 20, 30, 30]));
    const lq = matchPredictions(only, 1, 3, [0.3, 0.7], [0, -1, 1], true);
    expect(Array.from(lq.labels)).toEqual([1, 1, 0]);
  });
  it('samples at most total*fraction positives and fills with negatives', () => {
    const rng = new Rng(1);
    const labels = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1];
    const { pos, neg } = sampleLabels((i) => labels[i] === 1, (i) => labels[i] === 0, labels.length, 8, 0.25, rng);
    expect(pos.length).toBe(2);
    expect(neg.length).toBe(6);
    expect(pos.every((i) => labels[i] === 1) && neg.every((i) => labels[i] === 0)).toBe(true);
  });
});

describe('ROI pooler level assignment', () => {
  it('sends a 224-px box to p4 and clamps to p2..p5', () => {
    const p = new MultiLevelRoiPooler([4, 8, 16, 32].map((s, i) => ({ name: `p${i + 2}`, stride: s })), 7, 0);
    const lv = p.assignLevels(Float32Array.from([0, 0, 224, 224, 0, 0, 10, 10, 0, 0, 2000, 2000, 0, 0, 112, 112]));
    expect(Array.from(lv)).toEqual([2, 0, 3, 1]);
  });
});

describe('mask paste', () => {
  it('a full-probability map fills its box, nothing outside', () => {
    const probs = new Float32Array(28 * 28).fill(1);
    const rle = pasteMask(probs, 28, [10, 20, 30, 50], 64, 64, 0.5);
    const col = rleDecode(rle);
    expect(rleArea(rle)).toBe(20 * 30);
    expect(col[15 * 64 + 25]).toBe(1);
    expect(col[5 * 64 + 25]).toBe(0);
  });
});
