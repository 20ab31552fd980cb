import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Coco, CocoEval } from '../../eval/src/index.js';
import { fixture } from '../helpers/fixtures.js';

interface Expected {
  stats: number[];
  params: { iouThrs: number[]; recThrs: number[]; imgIds: number[]; catIds: number[] };
  summary_text: string;
  recall: { shape: number[]; data: number[] };
  precision?: { shape: number[]; data: number[] };
  per_category: { category_id: number; ap: number | null; ap50: number | null; ap75: number | null; ap_by_area: (number | null)[]; ar100: number | null }[];
}

function load(set: string, iouType: 'bbox' | 'segm') {
  const gt = Coco.fromFile(fixture('coco-eval', set, 'gt.json'));
  const dt = gt.loadResFile(fixture('coco-eval', set, `dets_${iouType}.json`));
  const E = new CocoEval(gt, dt, iouType);
  E.evaluate();
  E.accumulate();
  E.summarize();
  const expected = JSON.parse(readFileSync(fixture('coco-eval', set, `expected_${iouType}.json`), 'utf8')) as Expected;
  return { E, expected };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const set of ['dev-small', 'dev-medium']) {
  for (const iouType of ['bbox', 'segm'] as const) {
    describe(`COCOeval ${set} ${iouType}`, () => {
      const { E, expected } = load(set, iouType);

      it('uses pycocotools thresholds and ids', () => {
        expect(E.params.iouThrs).toEqual(expected.params.iouThrs);
        expect(E.params.recThrs).toEqual(expected.params.recThrs);
        expect(E.params.imgIds).toEqual(expected.params.imgIds);
        expect(E.params.catIds).toEqual(expected.params.catIds);
      });

      it('gives the 12 stats to 1e-12', () => {
        expect(maxDiff(E.stats, expected.stats)).toBeLessThanOrEqual(1e-12);
      });

      it('gives the recall array', () => {
        expect(maxDiff(E.eval!.recall, expected.recall.data)).toBeLessThanOrEqual(1e-12);
      });

      if (expected.precision) {
        it('gives the full precision array', () => {
          expect(maxDiff(E.eval!.precision, expected.precision!.data)).toBeLessThanOrEqual(1e-12);
        });
      }

      it('prints the identical summary', () => {
        expect(E.summaryText).toBe(expected.summary_text.endsWith('\n') ? expected.summary_text : `${expected.summary_text}\n`);
      });

      it('gives per-category AP, AP50, AP75', () => {
        const per = E.perCategory();
        for (const pc of expected.per_category) {
          const got = per.find((p) => p.categoryId === pc.category_id)!;
          for (const key of ['ap', 'ap50', 'ap75'] as const) {
            if (pc[key] === null) expect(got[key], `${pc.category_id} ${key}`).toBeNull();
            else expect(Math.abs(got[key]! - pc[key]!), `${pc.category_id} ${key}`).toBeLessThanOrEqual(1e-12);
          }
        }
      });
    });
  }
}

describe('COCOeval per-image matching (dev-small evalimgs)', () => {
  for (const iouType of ['bbox', 'segm'] as const) {
    it(`${iouType}: dtIds, gtIds, matches, ignores and IoUs equal pycocotools`, () => {
      const { E } = load('dev-small', iouType);
      const ref = JSON.parse(readFileSync(fixture('coco-eval', 'dev-small', `evalimgs_${iouType}.json`), 'utf8')) as {
        evalImgs: {
          image_id: number;
          category_id: number;
          dtIds: number[];
          gtIds: number[];
          dtMatches: number[][];
          gtMatches: number[][];
          dtIgnore: number[][];
          gtIgnore: number[];
          dtScores: number[];
          ious: number[][];
        }[];
      };
      expect(ref.evalImgs.length).toBeGreaterThan(20);
      for (const r of ref.evalImgs) {
        const got = E.evaluateImg(r.image_id, r.category_id, [0, 1e10], 100)!;
        const where = `${r.image_id}/${r.category_id}`;
        expect(got, where).not.toBeNull();
        expect(got.dtIds, where).toEqual(r.dtIds);
        expect(got.gtIds, where).toEqual(r.gtIds);
        expect(got.dtMatches, where).toEqual(r.dtMatches);
        expect(got.gtMatches, where).toEqual(r.gtMatches);
        expect(got.dtIgnore, where).toEqual(r.dtIgnore.map((row) => row.map(Number)));
        expect(got.gtIgnore, where).toEqual(r.gtIgnore.map(Number));
        expect(got.dtScores, where).toEqual(r.dtScores);
        const ious = E.computeIoU(r.image_id, r.category_id);
        expect(ious.length, where).toBe(r.ious.length);
        ious.forEach((row, d) => row.forEach((v, g) => expect(Math.abs(v - r.ious[d]![g]!), where).toBeLessThanOrEqual(1e-15)));
      }
    });
  }
});
