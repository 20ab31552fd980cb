import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco, EvalInputError } from '../../eval/src/index.js';
import { fixture } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const GT = fixture('coco-eval', 'dev-small', 'gt.json');

function tmp(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'densekit-eval-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('COCO bad input gives located errors', () => {
  const gt = Coco.fromFile(GT);

  it('a result naming an unknown image', () => {
    expect(() => gt.loadRes([{ image_id: 1005, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }, { image_id: 99999, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }], 'r.json')).toThrow(
      /r\.json: entry 1: image_id: image_id 99999 is not an image of the ground truth/,
    );
  });

  it('a malformed RLE string', () => {
    expect(() => gt.loadRes([{ image_id: 1005, category_id: 1, segmentation: { size: [640, 480], counts: 'ab\u0007' }, score: 1 }], 'r.json')).toThrow(
      /r\.json: entry 0: segmentation\.counts: malformed RLE string/,
    );
    expect(() => gt.loadRes([{ image_id: 1005, category_id: 1, segmentation: { size: [640, 480], counts: '52' }, score: 1 }], 'r.json')).toThrow(
      /counts sum to 7, expected 640x480/,
    );
  });

  it('a polygon with fewer than 6 numbers in GT', () => {
    const data = JSON.parse(readFileSync(GT, 'utf8')) as { annotations: { segmentation: unknown }[] };
    data.annotations[3]!.segmentation = [[1, 2, 3, 4]];
    expect(() => Coco.fromDataset(data, 'gt.json')).toThrow(/gt\.json: entry 3: segmentation\[0\]: a polygon needs at least 6 numbers/);
  });

  it('an empty results file and JSON that is not COCO', () => {
    expect(() => gt.loadRes([], 'empty.json')).toThrow(/empty\.json: results file has no detections/);
    expect(() => gt.loadRes({ images: [] }, 'obj.json')).toThrow(/obj\.json: not a COCO results file/);
    expect(() => Coco.fromDataset([1, 2], 'x.json')).toThrow(/x\.json: not a COCO instances file/);
    expect(() => Coco.fromDataset({ images: [], annotations: {} }, 'y.json')).toThrow(/y\.json: annotations: not a COCO instances file/);
    const bad = tmp('bad.json', '{"images": [');
    expect(() => Coco.fromFile(bad)).toThrow(EvalInputError);
    expect(() => Coco.fromFile(bad)).toThrow(/bad\.json: invalid JSON/);
  });

  it('a missing score or a wrong bbox', () => {
    expect(() => gt.loadRes([{ image_id: 1005, category_id: 1, bbox: [0, 0, 1] , score: 1 }], 'r.json')).toThrow(/entry 0: bbox: must be 4 finite numbers/);
    expect(() => gt.loadRes([{ image_id: 1005, category_id: 1, bbox: [0, 0, 1, 1] }], 'r.json')).toThrow(/entry 0: score: score must be a number/);
  });
});

describe('densekit eval CLI', () => {
  it('eval coco prints the pycocotools summary and writes --json atomically', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'densekit-eval-')), 'r.json');
    const r = runCli(['eval', 'coco', '--gt', GT, '--dt', fixture('coco-eval', 'dev-small', 'dets_bbox.json'), '--iou-type', 'bbox', '--json', out]);
    expect(r.status).toBe(0);
    const expected = JSON.parse(readFileSync(fixture('coco-eval', 'dev-small', 'expected_bbox.json'), 'utf8')) as { summary_text: string; stats: number[] };
    expect(r.stdout.trimEnd()).toBe(expected.summary_text.trimEnd());
    const j = JSON.parse(readFileSync(out, 'utf8')) as { stats: number[]; perCategory: { categoryId: number; ap: number }[] };
    expect(j.stats).toEqual(expected.stats);
    expect(j.perCategory.length).toBe(9);
  });

  it('eval coco with an unknown image id exits 2 with one line and writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-eval-'));
    const dt = join(dir, 'dt.json');
    writeFileSync(dt, JSON.stringify([{ image_id: 42, category_id: 1, bbox: [1, 2, 3, 4], score: 0.5 }]));
    const r = runCli(['eval', 'coco', '--gt', GT, '--dt', dt, '--json', join(dir, 'out.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/dt\.json: entry 0: image_id: image_id 42 is not an image/);
    expect(() => readFileSync(join(dir, 'out.json'))).toThrow();
  });

  it('eval ade20k reports a missing prediction and a size mismatch by file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'densekit-ade-'));
    const src = fixture('ade20k-eval', 'set-edge');
    mkdirSync(join(dir, 'gt'));
    mkdirSync(join(dir, 'pred'));
    copyFileSync(join(src, 'annotations', 'ADE_val_00013001.png'), join(dir, 'gt', 'a.png'));
    copyFileSync(join(src, 'annotations', 'ADE_val_00013002.png'), join(dir, 'gt', 'b.png'));
    copyFileSync(join(src, 'predictions', 'ADE_val_00013001.png'), join(dir, 'pred', 'a.png'));
    let r = runCli(['eval', 'ade20k', '--gt-dir', join(dir, 'gt'), '--pred-dir', join(dir, 'pred')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pred\/b\.png: no prediction for annotation b\.png/);
    copyFileSync(join(src, 'predictions', 'ADE_val_00013001.png'), join(dir, 'pred', 'b.png'));
    r = runCli(['eval', 'ade20k', '--gt-dir', join(dir, 'gt'), '--pred-dir', join(dir, 'pred')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pred\/b\.png: prediction is 225x232, annotation b\.png is 30x224/);
  });
});
