import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as mask from '../../eval/src/coco/mask.js';
import { rleFrString, rleToString } from '../../eval/src/coco/rle.js';
import { MaskApiError } from '../../eval/src/errors.js';
import { fixture } from '../helpers/fixtures.js';

interface MaskJson {
  h: number;
  w: number;
  colmajor: number[];
}
interface Case {
  name: string;
  fn: string;
  input: Record<string, unknown>;
  output: unknown;
}

const cases = (JSON.parse(readFileSync(fixture('coco-eval', 'mask-api.json'), 'utf8')) as { cases: Case[] }).cases;

function expectError(fn: () => unknown, expected: string): void {
  const pyClass = expected.split(':')[0];
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${expected}`).toBeInstanceOf(MaskApiError);
  expect((err as MaskApiError).pythonError).toBe(pyClass);
}

function isError(out: unknown): out is { error: string } {
  return typeof out === 'object' && out !== null && 'error' in out;
}

function run(c: Case): unknown {
  const inp = c.input;
  switch (c.fn) {
    case 'encode': {
      if (inp.masks) return (inp.masks as MaskJson[]).map((m) => mask.encode(m.colmajor, m.h, m.w));
      const m = inp.mask as MaskJson;
      return mask.encode(m.colmajor, m.h, m.w);
    }
    case 'decode': {
      const r = inp.rle as mask.CompressedRle;
      return Array.from(mask.decode(r));
    }
    case 'area':
      return inp.rles ? (inp.rles as mask.CompressedRle[]).map(mask.area) : mask.area(inp.rle as mask.CompressedRle);
    case 'toBbox':
      return inp.rles ? (inp.rles as mask.CompressedRle[]).map(mask.toBbox) : mask.toBbox(inp.rle as mask.CompressedRle);
    case 'merge':
      return mask.merge(inp.rles as mask.CompressedRle[], inp.intersect === 1);
    case 'iou':
      return mask.iou(inp.dt as never[], inp.gt as never[], inp.iscrowd as number[]);
    case 'frPyObjects':
      if (inp.obj_type === 'numpy float64 array N x 4') return mask.frBbox(inp.obj as number[][], inp.h as number, inp.w as number);
      return mask.frPyObjects(inp.obj, inp.h as number, inp.w as number);
    case 'rleToString': {
      const [h, w] = inp.size as [number, number];
      return { counts: rleToString({ h, w, counts: Uint32Array.from(inp.counts_list as number[]) }) };
    }
    default:
      throw new Error(`unknown fn ${c.fn}`);
  }
}

function strip(o: unknown): unknown {
  // Compare RLE objects on size + counts (the fixture adds counts_list for reading).
  if (Array.isArray(o)) return o.map(strip);
  if (typeof o === 'object' && o !== null && 'counts' in o) {
    const r = o as { size?: number[]; counts: string };
    return r.size ? { size: r.size, counts: r.counts } : { counts: r.counts };
  }
  return o;
}

describe('pycocotools mask API parity (mask-api.json)', () => {
  it('has all 52 cases', () => expect(cases.length).toBe(52));

  for (const c of cases) {
    it(c.name, () => {
      if (isError(c.output)) {
        expectError(() => run(c), c.output.error);
        return;
      }
      const got = run(c);
      if (c.fn === 'decode') {
        expect(got).toEqual((c.output as { mask: MaskJson }).mask.colmajor);
      } else if (c.fn === 'frPyObjects' && typeof c.output === 'object' && c.output !== null && 'rles' in c.output) {
        const out = c.output as { rles: mask.CompressedRle[]; merged: mask.CompressedRle; merged_area: number };
        expect(strip(got)).toEqual(strip(out.rles));
        const merged = mask.merge(got as mask.CompressedRle[]);
        expect(merged).toEqual(strip(out.merged));
        expect(mask.area(merged)).toBe(out.merged_area);
      } else {
        expect(strip(got)).toEqual(strip(c.output));
      }
    });
  }

  it('string codec round-trips and rejects malformed strings', () => {
    const r = rleFrString('a1:610O0001O0010O000O1N2N3M2N^1', 16, 20);
    expect(rleToString(r)).toBe('a1:610O0001O0010O000O1N2N3M2N^1');
    expect(() => rleFrString('ab\u0001', 4, 4)).toThrow(/invalid character/);
    expect(() => rleFrString('0o', 4, 4)).toThrow(/ends inside a count/);
  });
});
