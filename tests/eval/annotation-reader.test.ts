import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco, CocoEval, EvalInputError, rleEncode, rleToString } from '../../eval/src/index.js';
import { AnnotationTable } from '../../eval/src/coco/annotation-table.js';
import { CompactNumbers } from '../../eval/src/coco/compact-numbers.js';
import { decimalToDouble } from '../../eval/src/coco/decimal.js';
import { JsonSyntaxError, readDataset } from '../../eval/src/coco/dataset-reader.js';
import { writeAnnotationFile } from '../../bench/lib/annotation-synth.js';
import { loadCocoDataset } from '../../src/data/coco-dataset.js';
import { fixture } from '../helpers/fixtures.js';
import { Rng } from '../../src/engine/random.js';

const dir = mkdtempSync(join(tmpdir(), 'densekit-annotations-'));
let files = 0;

function write(text: string): string {
  const p = join(dir, `a${files++}.json`);
  writeFileSync(p, text);
  return p;
}

/** Deep equality as JSON.parse's results can differ: values (Object.is, so -0 counts), key order, prototypes. */
function sameJson(a: unknown, b: unknown, at = '$'): void {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    if (!Object.is(a, b)) throw new Error(`${at}: ${String(a)} !== ${String(b)}`);
    return;
  }
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) throw new Error(`${at}: different kinds`);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join('\u0000') !== kb.join('\u0000')) throw new Error(`${at}: keys ${ka.join()} vs ${kb.join()}`);
  for (const k of ka) sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
}

/** The file read into columns (whole, and through small windows) is what JSON.parse makes of it. */
function expectReadAsJsonParse(path: string, windows: (number | undefined)[] = [undefined, 64, 1000]): void {
  const ref = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  for (const windowBytes of windows) {
    const coco = Coco.fromFile(path, { reader: 'columns', windowBytes });
    expect(coco.columns).toBeInstanceOf(AnnotationTable);
    // Each annotation made from the columns, then the whole dataset.
    const made = Array.from({ length: coco.columns.length }, (_, i) => coco.columns.get(i));
    sameJson(made, (ref as { annotations: unknown }).annotations);
    sameJson(coco.dataset, ref);
  }
}

/** The error the columns give is the one JSON.parse + checkDataset give. */
function expectSameError(text: string): string {
  const path = write(text);
  let general: Error | undefined;
  try {
    Coco.fromFile(path, { reader: 'json' });
  } catch (err) {
    general = err as Error;
  }
  expect(general).toBeInstanceOf(EvalInputError);
  for (const windowBytes of [undefined, 32]) expect(() => Coco.fromFile(path, { reader: 'columns', windowBytes })).toThrow(general!.message);
  expect(() => Coco.fromFile(path)).toThrow(general!.message);
  return general!.message;
}

const base = {
  images: [
    { id: 1, width: 10, height: 8, file_name: 'a.jpg' },
    { id: 2, width: 6, height: 6, file_name: 'b.jpg' },
  ],
  categories: [{ id: 1, name: 'x' }],
};

describe('annotation files read into columns', () => {
  it('equal JSON.parse on the fixtures, whatever the window', () => {
    expectReadAsJsonParse(fixture('coco-eval', 'dev-small', 'gt.json'), [undefined, 16, 64, 333]);
    expectReadAsJsonParse(fixture('coco-eval', 'dev-medium', 'gt.json'));
  });

  it('equal JSON.parse on COCO-, LVIS- and Objects365-shaped files', () => {
    for (const kind of ['coco', 'lvis', 'o365'] as const) {
      const path = join(dir, `${kind}.json`);
      writeAnnotationFile(path, { kind, images: 300, annotations: 3000, seed: 5 });
      expectReadAsJsonParse(path, [undefined, 4096]);
    }
  });

  it('equal JSON.parse on every kind of value, key and spacing', () => {
    const rle = { size: [8, 10], counts: rleToString(rleEncode(new Uint8Array(80).fill(1, 3, 40), 8, 10)) };
    const text = `{"info": {"é": "caf\\u00e9 \\ud83d\\ude00 \\n\\t\\"\\\\\\/", "n": [-0, 0.0, 1e5, 1E-5, 2.5e+3, 123456789012345678901234, 0.1, 1006.2399291992188, 440.5032501220703, 1e400, -1e-400, 9007199254740993],
      "__proto__": {"polluted": true}, "t": [true, false, null, {}, []]},
      "images": [{"id": 1, "width": 10, "height": 8, "neg_category_ids": [3, 4], "not_exhaustive_category_ids": []}, {"id": 2, "width": 6, "height": 6, "file_name": "ünï/cödé.jpg"}],
      "categories": [{"id": 1, "name": "x"}, {"id": 2, "name": "y", "synonyms": ["a", "b"]}],
      "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 3.25, 4], "area": 13, "iscrowd": 0, "segmentation": [[0, 0, 3.25, 0, 3.25, 4], [1.5, 1.5, 2, 2, 1, 2.125]]},
        {"image_id": 1, "id": 2, "category_id": 2, "segmentation": ${JSON.stringify(rle)}, "area": 37, "iscrowd": 1, "bbox": [0, 3, 4, 5]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2], "isfake": 0, "isreflected": 1, "note": "x", "tags": [1, "two", null], "__proto__": 5},
        {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": true, "bbox": [1, 1, 2, 2]},
        {"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2], "id": 6},
        {"i\\u0064": 7, "image_id": 2, "category_id": 1},
        {"id": 8, "image_id": 2, "category_id": 1, "segmentation": {"counts": [3, 33, 0], "size": [6, 6]}, "bbox": [0, 0, 6, 6]},
        {"id": 9, "image_id": 2, "category_id": 1, "segmentation": [], "bbox": [-0, 0, 1e-7, 6]},
        {	"id" :10 ,"image_id"	:2,"category_id":1,"bbox":[ 1 , 1 , 2 , 2 ] }
      ],
      "licenses": [], "annotations_count": 9}\r\n`;
    const path = write(text);
    expectReadAsJsonParse(path, [undefined, 16, 48, 200]);
    const coco = Coco.fromFile(path, { reader: 'columns' });
    expect(coco.imgs.get(1)!.neg_category_ids).toEqual([3, 4]);
    expect(Object.getPrototypeOf(coco.dataset.info)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('read numbers exactly as JSON.parse, digit counts and exponents of every kind', () => {
    const rng = new Rng(3);
    const nums: string[] = [];
    for (let i = 0; i < 40000; i++) {
      const digits = 1 + Math.floor(rng.uniform() * 21);
      let d = String(1 + Math.floor(rng.uniform() * 9));
      for (let k = 1; k < digits; k++) d += Math.floor(rng.uniform() * 10);
      const point = Math.floor(rng.uniform() * (digits + 3));
      let s = point >= digits ? d : point === 0 ? `0.${'0'.repeat(Math.floor(rng.uniform() * 4))}${d}` : `${d.slice(0, point)}.${d.slice(point)}`;
      if (rng.uniform() < 0.1) s += `e${Math.floor(rng.uniform() * 60) - 30}`;
      if (rng.uniform() < 0.3) s = `-${s}`;
      nums.push(s);
      nums.push(String(Math.fround(rng.uniform() * 5000)), String(rng.uniform() * 10 ** Math.floor(rng.uniform() * 8)));
    }
    const text = `{"images": [], "categories": [], "annotations": [], "numbers": [${nums.join(', ')}], "polygon": [[${nums.join(', ')}]]}`;
    sameJson({ ...readDataset({ bytes: new TextEncoder().encode(text) })!.top, annotations: [] }, JSON.parse(text));
    // Into a column too (the kinds it widens through keep every value).
    const coords = nums.map(Number);
    const path = write(JSON.stringify({ ...base, annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [coords.filter((v) => Number.isFinite(v))], bbox: [0, 0, 1, 1] }] }));
    expectReadAsJsonParse(path, [undefined]);
  });

  it('converts 16–19 digit decimals exactly or declines (exact ties included)', () => {
    // Exact halfway cases: the caller falls back to Number() for these.
    expect(decimalToDouble(450359962737049, 65, 2, -1)).toBeNaN(); // 4503599627370496.5
    const rng = new Rng(9);
    for (let i = 0; i < 20000; i++) {
      const head = Math.floor(rng.uniform() * 9e14) + 1e14;
      const tailDigits = 1 + Math.floor(rng.uniform() * 4);
      const tail = Math.floor(rng.uniform() * 10 ** tailDigits);
      const e10 = -1 - Math.floor(rng.uniform() * 22);
      const v = decimalToDouble(head, tail, tailDigits, e10);
      const digits = `${head}${String(tail).padStart(tailDigits, '0')}`;
      const text = `${digits}e${e10}`;
      if (!Number.isNaN(v)) expect(v).toBe(Number(text));
    }
  });

  it('keeps numbers compactly and exactly, widening as needed', () => {
    const values = [0, 1, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, 0.5, 239.97, 1.123, 491.3955078125, -0, 1e300, 0.1 + 0.2];
    const c = new CompactNumbers(2);
    for (const v of values) c.push(v);
    values.forEach((v, i) => expect(Object.is(c.get(i), v)).toBe(true));
    const coords = new CompactNumbers();
    for (let i = 0; i < 1000; i++) coords.push(Math.round(i * 13.37 * 100) / 100);
    expect(coords.byteLength / coords.length).toBeLessThanOrEqual(4 * 1.6);
  });

  it('hold Objects365-shaped annotations in about 40 bytes each', () => {
    const path = join(dir, 'o365-compact.json');
    writeAnnotationFile(path, { kind: 'o365', images: 1000, annotations: 15000, seed: 2 });
    const t = Coco.fromFile(path, { reader: 'columns' }).columns as AnnotationTable;
    const bytes = [t.id, t.imageId, t.categoryId, t.area, t.iscrowd, t.bbox, t.layoutOf, t.segParts, t.extraNums].reduce((n, c) => n + c.byteLength, 0);
    expect(bytes / t.length).toBeLessThan(48);
  });

  it('give the errors JSON.parse and checkDataset give, located by file, entry and key', () => {
    const ann = { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 2, 2], area: 4, iscrowd: 0, segmentation: [[0, 0, 2, 0, 2, 2]] };
    const cases: [unknown, RegExp][] = [
      [{ ...base, annotations: [ann, { ...ann, id: 'x' }] }, /entry 1: annotations\.id: id must be a number/],
      [{ ...base, annotations: [ann, { ...ann, image_id: 9 }] }, /entry 1: annotations\.image_id: image_id 9 is not in images/],
      [{ ...base, annotations: [ann, { ...ann, category_id: null }] }, /entry 1: annotations\.category_id/],
      [{ ...base, annotations: [ann, ann, { ...ann, bbox: [0, 0, 1] }] }, /entry 2: annotations\.bbox: must be 4 finite numbers/],
      [{ ...base, annotations: [{ ...ann, bbox: [0, 0, 1, '2'] }] }, /entry 0: annotations\.bbox/],
      [{ ...base, annotations: [{ ...ann, area: '4' }] }, /entry 0: annotations\.area/],
      [{ ...base, annotations: [ann, { ...ann, segmentation: [[0, 0, 2, 0, 2, 2], [1, 1, 2, 2]] }] }, /entry 1: segmentation\[1\]: a polygon needs at least 6 numbers/],
      [{ ...base, annotations: [{ ...ann, segmentation: [[0, 0, 2, null, 2, 2]] }] }, /entry 0: segmentation\[0\]: a polygon must be a list of numbers/],
      [{ ...base, annotations: [{ ...ann, segmentation: { size: [8, 10], counts: 'zz' } }] }, /entry 0: segmentation\.counts/],
      [{ ...base, annotations: [{ ...ann, segmentation: { size: [8, 10], counts: [1, 2] } }] }, /entry 0: segmentation\.counts: RLE counts sum to 3/],
      [{ ...base, annotations: [{ ...ann, segmentation: 'x' }] }, /entry 0: segmentation/],
      [{ ...base, annotations: [ann, 7] }, /entry 1: annotations: must be an object/],
      [{ ...base, annotations: [{ ...ann, id: 1, image_id: 1, category_id: 1 }, { image_id: 1 }] }, /entry 1: annotations\.id/],
      [{ ...base, images: [{ id: 1, width: 2 }], annotations: [] }, /entry 0: images\.width\/height/],
      [{ ...base, images: [base.images[0], base.images[0]], annotations: [] }, /entry 1: images\.id: duplicate image id 1/],
      [{ ...base, categories: [{ name: 'x' }], annotations: [] }, /entry 0: categories\.id/],
      [{ images: [], categories: [], annotations: {} }, /annotations: not a COCO instances file/],
      [{ images: [], annotations: [] }, /categories: not a COCO instances file/],
      [[1, 2], /not a COCO instances file/],
    ];
    for (const [data, message] of cases) expect(expectSameError(JSON.stringify(data))).toMatch(message);
    // Invalid JSON: JSON.parse words it where the file is small enough.
    const valid = JSON.stringify({ ...base, annotations: [ann] });
    for (const bad of [valid.slice(0, -1), valid.replace('"bbox"', 'bbox'), valid.replace('[0, 0, 2, 2]', '[0, 0, 2, 2,]').replace('[0,0,2,2]', '[0,0,2,2,]'), `${valid} x`, valid.replace('"x"', '"a\u0001b"'), '']) {
      expect(expectSameError(bad)).toMatch(/invalid JSON/);
    }
  });

  it('locate invalid JSON by byte where the file is too large for JSON.parse', () => {
    const text = '{"images": [{"id": 1, "width": 2, "height": 2}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1}], "categories": []}';
    const at = text.indexOf('1}]') + 1;
    for (const windowBytes of [undefined, 16]) {
      const path = write(text);
      let error: unknown;
      try {
        readDataset({ path }, { windowBytes });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(JsonSyntaxError);
      expect((error as JsonSyntaxError).offset).toBe(at);
      expect((error as Error).message).toBe(`unexpected '}' at byte ${at}`);
    }
    const cut = text.slice(0, 120);
    expect(() => readDataset({ bytes: new TextEncoder().encode(cut) })).toThrow(/unexpected end of file at byte 120/);
  });
});

describe('a Coco over columns', () => {
  const path = fixture('coco-eval', 'dev-medium', 'gt.json');

  it('answers every query as a Coco over objects does', () => {
    const cols = Coco.fromFile(path, { reader: 'columns' });
    const objs = Coco.fromFile(path);
    expect(objs.columns).not.toBeInstanceOf(AnnotationTable);
    const imgIds = objs.getImgIds().slice(0, 7);
    const catIds = objs.getCatIds().slice(0, 3);
    for (const filter of [{}, { imgIds }, { catIds }, { imgIds, catIds }, { areaRng: [100, 5000] as [number, number] }, { iscrowd: true }, { iscrowd: false, imgIds: [...imgIds, imgIds[0]!] }]) {
      expect(cols.getAnnIds(filter)).toEqual(objs.getAnnIds(filter));
      sameJson(cols.getAnns(filter), objs.getAnns(filter));
    }
    expect(cols.getImgIds({ catIds })).toEqual(objs.getImgIds({ catIds }));
    const ids = objs.getAnnIds({ imgIds });
    sameJson(cols.loadAnns(ids), objs.loadAnns(ids));
    expect(() => cols.loadAnns([-5])).toThrow(/no annotation with id -5/);
    for (const id of ids) sameJson(cols.anns.get(id), objs.anns.get(id));
    for (const id of imgIds) sameJson(cols.imgToAnns.get(id), objs.imgToAnns.get(id));
    expect([...cols.catToImgs]).toEqual([...objs.catToImgs]);
    for (const a of objs.getAnns({ imgIds })) expect(cols.annToRle(cols.anns.get(a.id)!)).toEqual(objs.annToRle(a));
    // The whole maps, in their order.
    sameJson([...cols.imgToAnns.entries()], [...objs.imgToAnns.entries()]);
    sameJson([...cols.anns.keys()], [...objs.anns.keys()]);
  });

  it('hands out one object per annotation; once dataset.annotations is read, changes to them count', () => {
    const coco = Coco.fromFile(path, { reader: 'columns' });
    const [first] = coco.getAnns({ imgIds: [coco.getImgIds()[0]!] });
    expect(coco.anns.get(first!.id)).toBe(first);
    expect(coco.loadAnns([first!.id])[0]).toBe(first);
    expect(coco.imgToAnns.get(first!.image_id)![0]).toBe(first);
    const all = coco.dataset.annotations;
    expect(all.find((a) => a.id === first!.id)).toBe(first);
    expect(coco.dataset.annotations).toBe(all);
    first!.area = 123456789;
    expect(coco.getAnnIds({ areaRng: [123456788, 123456790] })).toEqual([first!.id]);
  });

  it('evaluates as a Coco over objects does (bbox and segm, with and without a helper thread)', () => {
    for (const iouType of ['bbox', 'segm'] as const) {
      const dets = fixture('coco-eval', 'dev-medium', `dets_${iouType}.json`);
      for (const threads of [1, 2] as const) {
        const stats = [Coco.fromFile(path, { reader: 'columns' }), Coco.fromFile(path, { reader: 'json' })].map((gt) => {
          const E = new CocoEval(gt, gt.loadResFile(dets, { threads }), iouType, { threads });
          E.evaluate();
          const img = gt.getImgIds()[0]!;
          const cat = gt.getCatIds()[0]!;
          const one = E.evaluateImg(img, cat, [0, 1e10], 100);
          E.accumulate();
          return { stats: E.summarize(), one };
        });
        expect(stats[0]).toEqual(stats[1]);
      }
    }
  });
});

describe('training datasets from columns', () => {
  it('read Objects365 layouts: patch folders resolve against the image folder, extra keys are kept', () => {
    const root = mkdtempSync(join(tmpdir(), 'densekit-o365-'));
    const ann = join(root, 'o365.json');
    writeAnnotationFile(ann, { kind: 'o365', images: 50, annotations: 700, seed: 4 });
    const ref = JSON.parse(readFileSync(ann, 'utf8')) as { images: { id: number; file_name: string }[]; annotations: { image_id: number; bbox: number[]; category_id: number; isfake: number }[] };
    const ds = loadCocoDataset(ann, join(root, 'train'), { reader: 'columns' });
    expect(ds.records).toHaveLength(50);
    // The same records from annotation objects.
    const fromObjects = loadCocoDataset(ann, join(root, 'train'), { reader: 'json' });
    expect(fromObjects.records.map((r) => [r.imageId, r.file, r.width, r.height, r.objects])).toEqual(ds.records.map((r) => [r.imageId, r.file, r.width, r.height, r.objects]));
    const name = ref.images[0]!.file_name;
    expect(name).toMatch(/^images\/v1\/patch0\/objects365_v1_\d+\.jpg$/);
    expect(ds.records[0]!.file).toBe(join(root, 'train', name.slice('images/v1/'.length)));
    // The objects of a record are the image's annotations, in file order.
    const cats = ds.categoryIds;
    const expected = ref.annotations.filter((a) => a.image_id === ref.images[3]!.id).map((a) => ({ box: [a.bbox[0], a.bbox[1], a.bbox[0]! + a.bbox[2]!, a.bbox[1]! + a.bbox[3]!], classIndex: cats.indexOf(a.category_id), mask: undefined }));
    expect(ds.records[3]!.objects).toEqual(expected);
    expect(Coco.fromFile(ann, { reader: 'columns' }).columns.get(0).isfake).toBe(0);
    // Where the folder holds the images under their full names, those are used.
    mkdirSync(join(root, 'full', 'images', 'v1', 'patch0'), { recursive: true });
    writeFileSync(join(root, 'full', name), '');
    expect(loadCocoDataset(ann, join(root, 'full'), { reader: 'columns' }).records[0]!.file).toBe(join(root, 'full', name));
  });

  it('keep LVIS federated fields on the images', () => {
    const ann = join(dir, 'lvis-fields.json');
    writeAnnotationFile(ann, { kind: 'lvis', images: 20, annotations: 200, seed: 8 });
    const ref = JSON.parse(readFileSync(ann, 'utf8')) as { images: { id: number; neg_category_ids: number[]; not_exhaustive_category_ids: number[] }[] };
    const coco = Coco.fromFile(ann, { reader: 'columns' });
    for (const im of ref.images) {
      expect(coco.imgs.get(im.id)!.neg_category_ids).toEqual(im.neg_category_ids);
      expect(coco.imgs.get(im.id)!.not_exhaustive_category_ids).toEqual(im.not_exhaustive_category_ids);
    }
    // LVIS images have no file_name: theirs is the end of coco_url, in COCO's image folder.
    const ds = loadCocoDataset(ann, dir, { reader: 'columns' });
    expect(ds.records[0]!.file).toBe(join(dir, 'train2017', '000000000001.jpg'));
    expect(ds.records.reduce((n, r) => n + r.objects.length, 0)).toBe(200);
    expect(ds.records[0]!.objects[0]!.mask!.kind).toBe('polygons');
  });
});
