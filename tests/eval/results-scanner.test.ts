import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco, CocoEval, type CocoAnnotation } from '../../eval/src/index.js';
import { Field, scanResults } from '../../eval/src/coco/results-scanner.js';
import { HelperThread, summarizeSerially } from '../../eval/src/coco/helper-thread.js';
import { SPAN, type HelperJob, type PolygonChunk } from '../../eval/src/coco/helper-protocol.js';
import type { MessagePort } from 'node:worker_threads';
import { fixture } from '../helpers/fixtures.js';
import { Rng } from '../../src/engine/random.js';

const GT = fixture('coco-eval', 'dev-medium', 'gt.json');
const gt = Coco.fromFile(GT);
const dir = mkdtempSync(join(tmpdir(), 'densekit-scan-'));
let files = 0;

function write(text: string): string {
  const p = join(dir, `r${files++}.json`);
  writeFileSync(p, text);
  return p;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** What a results Coco holds, comparable across the two paths (a file-backed mask reads as its JSON object). */
function contents(c: Coco): unknown {
  return {
    anns: JSON.parse(JSON.stringify(c.dataset.annotations)) as CocoAnnotation[],
    maskBoxes: c.dataset.annotations.map((a) => (a.segmentation === undefined ? null : c.maskBox(a))),
    unknown: c.unknownCategoryResults,
  };
}

/** loadResFile (bytes when it can) must equal loadRes of JSON.parse — values or error. */
function expectSameAsGeneral(text: string, threads: 1 | 2 = 1): void {
  const path = write(text);
  let general: unknown;
  try {
    general = contents(gt.loadRes(JSON.parse(text), path));
  } catch (err) {
    expect(() => gt.loadResFile(path, { threads })).toThrow((err as Error).message);
    return;
  }
  expect(contents(gt.loadResFile(path, { threads }))).toEqual(general);
}

const segmText = readFileSync(fixture('coco-eval', 'dev-medium', 'dets_segm.json'), 'utf8');
const bboxText = readFileSync(fixture('coco-eval', 'dev-medium', 'dets_bbox.json'), 'utf8');
const segm = JSON.parse(segmText) as Record<string, unknown>[];

describe('results read from bytes', () => {
  it('read the fixture files as the general path does (mask and box results)', () => {
    expect(scanResults(bytes(segmText))).not.toBeNull();
    expect(scanResults(bytes(bboxText))).not.toBeNull();
    expectSameAsGeneral(segmText);
    expectSameAsGeneral(bboxText);
  });

  it('read any layout: whitespace, key order, size after counts, mask results that also carry a box', () => {
    const shuffled = segm.map((r, i) => {
      const seg = r.segmentation as { size: number[]; counts: string };
      const s = i % 2 ? { counts: seg.counts, size: seg.size } : seg;
      return i % 3 ? { score: r.score, segmentation: s, category_id: r.category_id, image_id: r.image_id } : { ...r, segmentation: s };
    });
    for (const text of [JSON.stringify(shuffled, null, 2), JSON.stringify(shuffled).replace(/,/g, ' ,\t').replace(/:/g, '\r\n: ')]) {
      expect(scanResults(bytes(text))).not.toBeNull();
      expectSameAsGeneral(text);
    }
    const withBoxes = JSON.parse(bboxText) as Record<string, unknown>[];
    // pycocotools decides by the first entry's keys: with a box there, all are box results (area from the box) ...
    expectSameAsGeneral(JSON.stringify(segm.slice(0, 50).map((r, i) => ({ ...r, bbox: withBoxes[i]!.bbox }))));
    // ... without one, mask results, keeping the boxes some of them carry.
    expectSameAsGeneral(JSON.stringify(segm.slice(0, 50).map((r, i) => (i % 2 ? { ...r, bbox: withBoxes[i]!.bbox } : r))));
  });

  it('step over keys the results do not use, whatever their values', () => {
    const extras = ['"id": 7', '"area": 12.5', '"iscrowd": 0', '"bbox_mode": "XYWH_ABS"', '"scorex": 1', '"s": null', '"extra": {"a": [1, {"b": null}], "c": true, "d": false, "e": "x\\"y\\u0041\\n", "image_id": 3}', '"nested": [[[]], {}]'];
    const text = `[${segm
      .slice(0, 60)
      .map((r, i) => JSON.stringify(r).replace(/^\{/, `{${extras[i % extras.length]!}, `))
      .join(',')}]`;
    expect(scanResults(bytes(text))).not.toBeNull();
    expectSameAsGeneral(text);
  });

  it('parse numbers to the doubles JSON.parse gives', () => {
    const rng = new Rng(4);
    const texts = ['0', '-0', '1', '5.0', '0.1', '0.30000000000000004', '1e2', '1E+2', '-2.5e-3', '123456789012345678', '0.1234567890123456789', '1e-400', '4.9e-324', '1.7976931348623157e308', '9007199254740993', '1e22', '1e23', '0.000001', '1234.5678e-10'];
    for (let i = 0; i < 500; i++) texts.push(JSON.stringify((rng.uniform() - 0.5) * 10 ** (rng.int(40) - 20)));
    for (let i = 0; i < 200; i++) texts.push(String(Math.round(rng.uniform() * 1e6) / 1e3));
    const text = `[${texts.map((t) => `{"image_id":1,"category_id":1,"score":${t},"bbox":[${t},0,1,1]}`).join(',')}]`;
    const sc = scanResults(bytes(text))!;
    expect(sc.length).toBe(texts.length);
    texts.forEach((t, i) => {
      expect(Object.is(sc.data[i * Field.Stride + Field.Score], JSON.parse(t)), `${t}`).toBe(true);
      expect(Object.is(sc.data[i * Field.Stride + Field.Bbox], JSON.parse(t)), `${t}`).toBe(true);
    });
  });

  it('give up on what they do not fully understand, and the general path decides', () => {
    const one = (r: string) => `[${r}]`;
    const seg = '{"size":[640,480],"counts":"PPa8"}';
    const unusual = [
      one(`{"image\\u005fid":1005,"category_id":1,"score":1,"segmentation":${seg}}`), // a key with an escape
      one(`{"image_id":1005,"category_id":1,"score":1,"segmentation":${seg},"extra":tru}`), // an unused key's value not JSON
      one(`{"image_id":1005,"category_id":1,"score":1,"segmentation":${seg},"extra":"a\u0001b"}`), // a raw control character
      one(`{"image_id":1005,"category_id":1,"score":1,"segmentation":${seg},"extra":"\\q"}`), // not a JSON escape
      one(`{"image_id":1005,"category_id":1,"score":1,"segmentation":{"size":[640,480],"counts":"PPa8","x":1}}`), // another key in the mask
      one(`{"image_id":1005,"image_id":1005,"category_id":1,"score":1,"segmentation":${seg}}`), // a duplicate key
      one(`{"image_id":"1005","category_id":1,"score":1,"segmentation":${seg}}`), // a string id
      one('{"image_id":1005,"category_id":1,"score":1,"segmentation":[[1,2,3,4,5,6]]}'), // polygons
      one('{"image_id":1005,"category_id":1,"score":1,"bbox":[]}'), // an empty box
      one('{"image_id":1005,"category_id":1,"score":01,"bbox":[0,0,1,1]}'), // not JSON
      one('{"image_id":1005,"category_id":1,"score":1,"bbox":[0,0,1,1],}'),
      '\ufeff' + one('{"image_id":1005,"category_id":1,"score":1,"bbox":[0,0,1,1]}'), // a byte-order mark
      '[]',
      '{"annotations":[]}',
    ];
    for (const text of unusual) {
      expect(scanResults(bytes(text)), text).toBeNull();
      expectSameAsGeneral(text);
    }
    // Counts are checked when decoded: an escape other than a backslash pair sends the file to the general path too.
    expectSameAsGeneral(one('{"image_id":1005,"category_id":1,"score":1,"segmentation":{"size":[640,480],"counts":"PP\\u0061"}}'));
    expectSameAsGeneral(one('{"image_id":1005,"category_id":1,"score":1,"segmentation":{"size":[640,480],"counts":"PP\\\\"}}'));
  });

  it('report bad entries exactly as the general path does', () => {
    const base = segm.slice(0, 5);
    const cases = [
      base.map((r, i) => (i === 3 ? { ...r, image_id: 99999 } : r)),
      base.map((r, i) => (i === 2 ? { ...r, segmentation: { size: [3, 3], counts: '52' } } : r)),
      base.map((r, i) => (i === 1 ? { ...r, segmentation: { size: [640, 480], counts: 'ab\u0007' } } : r)),
      base.map((r, i) => (i === 4 ? { ...r, score: 1e999 } : r)),
      base.map((r, i) => (i === 0 ? { ...r, bbox: [0, 0, 1e400, 1] } : r)),
    ];
    for (const c of cases) expectSameAsGeneral(JSON.stringify(c).replace('1e+999', '1e999'));
  });

  it('evaluate the same with a worker thread summarising the masks', () => {
    expectSameAsGeneral(segmText, 2);
    const a = gt.loadResFile(write(segmText), { threads: 2 });
    const E = new CocoEval(gt, a, 'segm');
    E.evaluate();
    E.accumulate();
    const B = new CocoEval(gt, gt.loadRes(segm), 'segm');
    B.evaluate();
    B.accumulate();
    expect(E.summarize()).toEqual(B.summarize());
  });

  it('accumulate alike when a helper thread accumulates categories during evaluate()', () => {
    for (const iouType of ['segm', 'bbox'] as const) {
      const dt = gt.loadResFile(write(iouType === 'segm' ? segmText : bboxText), { threads: 1 });
      const one = new CocoEval(gt, dt, iouType, { threads: 1 });
      one.evaluate();
      const a = one.accumulate();
      const two = new CocoEval(gt, dt, iouType, { threads: 2 });
      two.evaluate();
      const b = two.accumulate();
      expect(Array.from(b.precision)).toEqual(Array.from(a.precision));
      expect(Array.from(b.recall)).toEqual(Array.from(a.recall));
      expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
      expect(two.summarize()).toEqual(one.summarize());
      // Thresholds changed after evaluate(): the helper's work is set aside, and the result is what one thread gives.
      const fewer = (E: CocoEval) => (E.params.recThrs = E.params.recThrs.filter((_, i) => i % 2 === 0));
      const three = new CocoEval(gt, dt, iouType, { threads: 2 });
      three.evaluate();
      fewer(three);
      const c = three.accumulate();
      const four = new CocoEval(gt, dt, iouType, { threads: 1 });
      four.evaluate();
      fewer(four);
      const d = four.accumulate();
      expect(c.counts[1]).toBe(51);
      expect(Array.from(c.precision)).toEqual(Array.from(d.precision));
      expect(Array.from(c.scores)).toEqual(Array.from(d.scores));
    }
  });

  it('summarise alike on one thread and two, over many chunks, malformed masks included', () => {
    const text = JSON.stringify(Array.from({ length: 4 }, () => segm).flat().map((r, i) => (i % 397 === 5 ? { ...r, segmentation: { size: [2, 2], counts: 'o' } } : r)));
    const b = new Uint8Array(new SharedArrayBuffer(text.length));
    b.set(bytes(text));
    const sc = scanResults(b)!;
    const n = sc.length;
    const spans = new Float64Array(new SharedArrayBuffer(8 * SPAN * n));
    for (let i = 0; i < n; i++) {
      const o = i * Field.Stride;
      spans.set([sc.data[o + Field.Height]!, sc.data[o + Field.Width]!, sc.data[o + Field.CountsStart]!, sc.data[o + Field.CountsEnd]!], SPAN * i);
    }
    const serial = summarizeSerially(b, spans, n);
    serial.finish();
    const helper = HelperThread.start()!;
    try {
      const job = helper.summarize(b, spans, n);
      job.finish();
      expect(Array.from(job.ok)).toEqual(Array.from(serial.ok));
      expect(Array.from(job.out)).toEqual(Array.from(serial.out));
      expect(Array.from(serial.ok).filter((x) => x === 0).length).toBeGreaterThan(3);
    } finally {
      helper.close();
    }
  });
});

describe('the helper thread program', () => {
  it('runs in a worker from its module and does whole jobs alone (masks, polygons, a category to accumulate)', async () => {
    const { MessageChannel, receiveMessageOnPort } = await import('node:worker_threads');
    const { startHelperWorker } = await import('../../eval/src/coco/helper-thread.js');
    const { rleFrPoly } = await import('../../eval/src/coco/rle.js');
    const worker = startHelperWorker();
    const post = (job: HelperJob, transfer?: MessagePort[]) => worker.postMessage(job, transfer);
    try {
      // Masks: two well-formed spans and a malformed one, in shared memory.
      const text = '"0o1" "aa" "5d00"';
      const b = new Uint8Array(new SharedArrayBuffer(text.length));
      b.set(bytes(text));
      const spans = new Float64Array(new SharedArrayBuffer(8 * SPAN * 2));
      spans.set([4, 4, 1, 4, 2, 2, 7, 9]);
      const out = new Float64Array(new SharedArrayBuffer(8 * 6 * 2));
      const ok = new Uint8Array(new SharedArrayBuffer(2));
      const ctrl = new Int32Array(new SharedArrayBuffer(8));
      const done = new Uint8Array(new SharedArrayBuffer(1));
      post({ kind: 'masks', bytes: b.buffer, spans: spans.buffer, out: out.buffer, ok: ok.buffer, ctrl: ctrl.buffer, done: done.buffer });
      const waited = Atomics.wait(ctrl, 1, 0, 20000);
      expect(waited === 'ok' || Atomics.load(ctrl, 1) === 1).toBe(true);
      const serial = summarizeSerially(b, spans, 2);
      serial.finish();
      expect(Array.from(ok)).toEqual(Array.from(serial.ok));
      expect(Array.from(out)).toEqual(Array.from(serial.out));
      // Polygons: the counts come back through a port.
      const poly = [1.5, 2.25, 9.75, 3, 6, 8.5, 0.5, 7];
      const set = { coords: new Float64Array(new SharedArrayBuffer(8 * 8)), start: new Int32Array(new SharedArrayBuffer(8)), size: new Int32Array(new SharedArrayBuffer(8)) };
      set.coords.set(poly);
      set.start.set([0, 8]);
      set.size.set([12, 11]);
      const pctrl = new Int32Array(new SharedArrayBuffer(8));
      const pdone = new Uint8Array(new SharedArrayBuffer(1));
      const { port1, port2 } = new MessageChannel();
      post({ kind: 'polygons', coords: set.coords.buffer, start: set.start.buffer, size: set.size.buffer, ctrl: pctrl.buffer, done: pdone.buffer, port: port2 }, [port2]);
      Atomics.wait(pctrl, 1, 0, 20000);
      const m = receiveMessageOnPort(port1) as { message: PolygonChunk };
      port1.close();
      expect(m.message.chunk).toBe(0);
      expect(Array.from(m.message.counts)).toEqual(Array.from(rleFrPoly(poly, 12, 11).counts));
      // A category to accumulate: two cells, T = 2, A = 1, M = 2, R = 3, K = 2 (this is category 1).
      const { accumulateCategory } = await import('../../eval/src/coco/accumulate-category.js');
      const sab = <T extends Uint8Array | Int32Array | Float64Array>(a: T): T => {
        const copy = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
        copy.set(a as never);
        return copy;
      };
      const res = {
        cellOffset: sab(Int32Array.of(0, 3)),
        cellCount: sab(Int32Array.of(3, 2)),
        scores: sab(Float64Array.of(0.9, 0.5, 0.2, 0.8, 0.5)),
        tp: [sab(Uint8Array.of(1, 0, 1, 1, 0, 1, 0, 0, 0, 0))],
        ig: [sab(Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 1, 0))],
        npig: sab(Float64Array.of(3)),
      };
      const dims: [number, number, number, number, number] = [2, 3, 2, 1, 2];
      const size = 2 * 3 * 2 * 1 * 2;
      const want = { precision: new Float64Array(size).fill(-1), recall: new Float64Array(2 * 2 * 2).fill(-1), scores: new Float64Array(size).fill(-1) };
      accumulateCategory(res, 1, dims, [0, 0.5, 1], [1, 3], want.precision, want.recall, want.scores);
      const got = { precision: new Float64Array(new SharedArrayBuffer(8 * size)).fill(-1), recall: new Float64Array(new SharedArrayBuffer(64)).fill(-1), scores: new Float64Array(new SharedArrayBuffer(8 * size)).fill(-1) };
      const state = new Int32Array(new SharedArrayBuffer(8));
      post({ kind: 'accumulation', dims, recThrs: [0, 0.5, 1], maxDets: [1, 3], precision: got.precision.buffer, recall: got.recall.buffer, scores: got.scores.buffer, state: state.buffer });
      post({ kind: 'category', k: 1, res });
      Atomics.wait(state, 1, 0, 20000);
      if (Atomics.load(state, 1) === 1) Atomics.wait(state, 1, 1, 20000);
      expect(Atomics.load(state, 1)).toBe(2);
      expect(Array.from(got.precision)).toEqual(Array.from(want.precision));
      expect(Array.from(got.recall)).toEqual(Array.from(want.recall));
      expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
      expect(want.precision.some((v) => v > 0)).toBe(true);
    } finally {
      await worker.terminate();
    }
  });
});
