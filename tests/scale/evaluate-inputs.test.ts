import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthCoco } from '../../bench/lib/coco-synth.js';
import { evaluateCocoFiles } from '../../src/tasks/detection/evaluate.js';
import { evaluateCocoInputs } from '../../src/tasks/detection/evaluate-inputs.js';

/**
 * Evaluating several results files a group of categories at a time gives
 * what one evaluation of everything gives, to the bit.
 */
describe('evaluation of several results files in groups of categories', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'densekit-evalin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const segm of [false, true]) {
    const iouType = segm ? 'segm' : 'bbox';
    it(`${iouType}: the 12 numbers and per-category APs equal one evaluation's, for any grouping`, () => {
      const { gt, dets } = synthCoco({ images: segm ? 40 : 120, categories: 12, gtPerImage: 5, detsPerImage: segm ? 20 : 40, segm, seed: 3 });
      // A category the GT lacks: counted and ignored, as by one evaluation.
      dets.push({ ...dets[0]!, category_id: 999 });
      const gtFile = join(dir, `${iouType}_gt.json`);
      writeFileSync(gtFile, JSON.stringify(gt));
      const all = join(dir, `${iouType}_all.json`);
      writeFileSync(all, JSON.stringify(dets));
      // Three parts, split by image as shards are, one pretty-printed.
      const parts = [0, 1, 2].map((p) => dets.filter((d) => d.image_id % 3 === p));
      const files = parts.map((list, p) => {
        const f = join(dir, `${iouType}_part${p}.json`);
        writeFileSync(f, p === 1 ? JSON.stringify(list, null, 2) : JSON.stringify(list));
        return f;
      });
      const ref = evaluateCocoFiles(gtFile, all, iouType);
      for (const groupDetections of [1, 150, 10_000_000]) {
        const got = evaluateCocoInputs(gtFile, files, iouType, { groupDetections });
        expect(got.stats).toEqual(ref.stats);
        expect(got.perCategory).toEqual(ref.perCategory);
        expect(got.summary).toBe(ref.summary);
        expect(got.unknownCategoryResults).toBe(1);
        expect(got.inputs.detections).toBe(dets.length);
      }
      // Through a glob too.
      expect(evaluateCocoInputs(gtFile, [join(dir, `${iouType}_part*.json`)], iouType, { groupDetections: 100 }).stats).toEqual(ref.stats);
    });
  }

  it('a bad entry is reported in the file it came from', () => {
    const { gt, dets } = synthCoco({ images: 6, categories: 3, gtPerImage: 3, detsPerImage: 4, segm: false, seed: 1 });
    const gtFile = join(dir, 'bad_gt.json');
    writeFileSync(gtFile, JSON.stringify(gt));
    const a = join(dir, 'bad_a.json');
    const b = join(dir, 'bad_b.json');
    writeFileSync(a, JSON.stringify(dets.slice(0, 10)));
    const rest = dets.slice(10);
    const bad = rest.findIndex((d) => d.category_id === rest[0]!.category_id && d !== rest[0]);
    rest[bad] = { ...rest[bad]!, bbox: [1, 2, 3] };
    writeFileSync(b, JSON.stringify(rest));
    expect(() => evaluateCocoInputs(gtFile, [a, b], 'bbox', { groupDetections: 1 })).toThrow(new RegExp(`bad_b\\.json: entry ${bad}: bbox`));
    writeFileSync(b, JSON.stringify([{ ...rest[0]!, image_id: 12345 }]));
    expect(() => evaluateCocoInputs(gtFile, [a, b], 'bbox')).toThrow(/bad_b\.json: entry 0: image_id: image_id 12345 is not an image/);
  });
});
