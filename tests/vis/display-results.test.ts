import { describe, expect, it } from 'vitest';
import { rleEncode, rleToString } from '@densekit/eval';
import { drawableResult, readDisplayResults } from '../../src/vis/display-results.js';

/** A 20x10 (w x h) mask with the rectangle x 4..9, y 2..6 set, as a compressed COCO RLE. */
function rectRle(): { size: [number, number]; counts: string } {
  const h = 10;
  const w = 20;
  const col = new Uint8Array(h * w);
  for (let x = 4; x < 10; x++) for (let y = 2; y < 7; y++) col[x * h + y] = 1;
  return { size: [h, w], counts: rleToString(rleEncode(col, h, w)) };
}

describe('results entries for drawing', () => {
  it("an entry with a mask and no box gets the mask's box; polygons too", () => {
    const [rle, poly] = readDisplayResults(
      [
        { image_id: 1, category_id: 2, score: 0.9, segmentation: rectRle() },
        { image_id: 1, category_id: 2, score: 0.8, segmentation: [[3, 1, 12, 1, 12, 8, 3, 8]] },
      ],
      'r.json',
    );
    const a = drawableResult(rle!, 10, 20, 'r.json');
    expect(a.bbox).toEqual([4, 2, 6, 5]);
    expect(a.mask?.h).toBe(10);
    const b = drawableResult(poly!, 10, 20, 'r.json');
    expect(b.mask?.w).toBe(20);
    expect(b.bbox[0]).toBeGreaterThanOrEqual(3);
    expect(b.bbox[2]).toBeGreaterThan(0);
  });

  it('a given box is kept', () => {
    const [r] = readDisplayResults([{ image_id: 1, category_id: 2, score: 0.9, bbox: [1, 2, 3, 4], segmentation: rectRle() }], 'r.json');
    expect(drawableResult(r!, 10, 20, 'r.json').bbox).toEqual([1, 2, 3, 4]);
  });

  it('bad entries are refused with the file, the entry and the field', () => {
    const bad = (entry: unknown) => () => readDisplayResults([{ image_id: 1, category_id: 1, score: 1, bbox: [0, 0, 1, 1] }, entry], 'r.json');
    expect(bad({ image_id: 1, category_id: 1, score: 0.5 })).toThrow('r.json: entry 1: has neither a bbox nor a segmentation: nothing to draw');
    expect(bad({ image_id: '1', category_id: 1, score: 0.5, bbox: [0, 0, 1, 1] })).toThrow('r.json: entry 1: image_id: must be an integer');
    expect(bad({ image_id: 1, category_id: 1, score: 'high', bbox: [0, 0, 1, 1] })).toThrow('r.json: entry 1: score: must be a number');
    expect(bad({ image_id: 1, category_id: 1, score: 0.5, bbox: [0, 0, 1] })).toThrow('r.json: entry 1: bbox: must be [x, y, width, height] (4 numbers)');
    expect(bad({ image_id: 1, category_id: 1, score: 0.5, segmentation: { size: [10], counts: 'a' } })).toThrow('r.json: entry 1: segmentation.size: must be [height, width]');
    expect(bad({ image_id: 1, category_id: 1, score: 0.5, segmentation: [[1, 2, 3]] })).toThrow('r.json: entry 1: segmentation[0]: must be a polygon');
    expect(() => readDisplayResults({ results: [] }, 'r.json')).toThrow(/^r\.json: not a COCO results list/);
  });

  it('a mask of another size than its image, or with runs past it, is refused naming the entry', () => {
    const [r] = readDisplayResults([{ image_id: 1, category_id: 2, score: 0.9, segmentation: rectRle() }], 'r.json');
    expect(() => drawableResult(r!, 12, 20, 'r.json')).toThrow('r.json: entry 0: segmentation.size: mask is 20x10 (width x height) but its image is 20x12');
    const [long] = readDisplayResults([{ image_id: 1, category_id: 2, score: 0.9, segmentation: { size: [2, 2], counts: [1, 9] } }], 'r.json');
    expect(() => drawableResult(long!, 2, 2, 'r.json')).toThrow('r.json: entry 0: segmentation.counts: the runs cover 10 pixels, more than the 4 of the image');
  });
});
