import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSemanticDataset, writeShapesDataset } from '../../src/data/synthesize.js';
import { readLabelMap } from '../../src/io/image.js';
import { loadRgb } from '../../src/io/rgb-image.js';
import { drawSemanticOverlay } from '../../src/vis/semantic-overlay.js';
import { ADE20K_CLASSES } from '../../src/data/ade20k-classes.js';
import { loadSemanticDataset } from '../../src/data/semantic-dataset.js';
import { evaluateSemantic, semanticReport } from '../../src/tasks/semantic/evaluate.js';
import { SemanticEvaluator } from '@densekit/eval';
import { runCli, type CliResult } from '../helpers/cli.js';
import { writeLabelPng } from '../helpers/tiny-images.js';

/**
 * visualize and class names, as a user meets them: results with masks and
 * no boxes, results without a GT file, images missing or broken part way
 * through a run, and the names of classes in overlays and eval tables
 * coming from the data rather than from ADE20K.
 */

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'densekit-rel-vis-'));
}

function pngsIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.png')).sort() : [];
}

/** Exit 2 with one line naming the problem, no stack trace. */
function badInput(r: CliResult): string {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(/^densekit: error: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r.stderr;
}

function ok(r: CliResult): string {
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

interface GtFile {
  images: { id: number; file_name: string }[];
  annotations: { image_id: number; category_id: number; bbox: number[]; segmentation: unknown }[];
  categories: { id: number; name: string }[];
}

describe('visualize: instance results', () => {
  let data: string;
  let gtPath: string;
  let gt: GtFile;
  /** The GT's objects as results with masks and no boxes, and with both. */
  let masksOnly: string;
  let withBoxes: string;

  beforeAll(async () => {
    data = tmp();
    const r = await writeShapesDataset({ out: data, trainImages: 0, valImages: 3, size: 40, seed: 5 });
    gtPath = r.val;
    gt = JSON.parse(readFileSync(gtPath, 'utf8')) as GtFile;
    masksOnly = join(data, 'masks-only.json');
    writeFileSync(masksOnly, JSON.stringify(gt.annotations.map((a, i) => ({ image_id: a.image_id, category_id: a.category_id, score: 0.9 - i * 0.01, segmentation: a.segmentation }))));
    withBoxes = join(data, 'with-boxes.json');
    writeFileSync(withBoxes, JSON.stringify(gt.annotations.map((a, i) => ({ image_id: a.image_id, category_id: a.category_id, score: 0.9 - i * 0.01, bbox: a.bbox, segmentation: a.segmentation }))));
  });

  it("results with masks and no boxes are drawn with their masks' boxes", () => {
    const out = join(tmp(), 'drawn');
    expect(ok(runCli(['visualize', '--images', join(data, 'val'), '--dt', masksOnly, '--gt', gtPath, '-o', out, '--score-thr', '0']))).toMatch(/wrote 3 images/);
    // The same results with the boxes of their masks (the GT's boxes) draw the same pixels.
    const out2 = join(tmp(), 'drawn');
    ok(runCli(['visualize', '--images', join(data, 'val'), '--dt', withBoxes, '--gt', gtPath, '-o', out2, '--score-thr', '0']));
    expect(pngsIn(out)).toEqual(['000001.png', '000002.png', '000003.png']);
    for (const f of pngsIn(out)) expect(readFileSync(join(out, f)).equals(readFileSync(join(out2, f))), f).toBe(true);
  });

  it("without --gt, a result's image id finds the file predict gave it (000001.png is image 1)", () => {
    const out = join(tmp(), 'drawn');
    expect(ok(runCli(['visualize', '--images', join(data, 'val'), '--dt', withBoxes, '-o', out, '--score-thr', '0']))).toMatch(/wrote 3 images/);
    expect(pngsIn(out)).toEqual(gt.images.map((im) => im.file_name).sort());
  });

  it('an image missing from the folder is named before anything is drawn (exit 2, no PNG written)', () => {
    const images = join(tmp(), 'val');
    cpSync(join(data, 'val'), images, { recursive: true });
    rmSync(join(images, '000003.png'));
    const out = join(tmp(), 'drawn');
    expect(badInput(runCli(['visualize', '--images', images, '--dt', withBoxes, '--gt', gtPath, '-o', out, '--score-thr', '0']))).toMatch(/1 of the 3 images to draw are not in the folder: 000003\.png/);
    expect(pngsIn(out)).toEqual([]);
    expect(badInput(runCli(['visualize', '--images', images, '--dt', withBoxes, '-o', out, '--score-thr', '0']))).toMatch(/no image for image id 3 of .*with-boxes\.json: without --gt/);
    expect(pngsIn(out)).toEqual([]);
  });

  it('an image that cannot be decoded is skipped and named, the others drawn: exit 3, as predict does', () => {
    const images = join(tmp(), 'val');
    cpSync(join(data, 'val'), images, { recursive: true });
    writeFileSync(join(images, '000002.png'), 'not a png');
    const out = join(tmp(), 'drawn');
    const r = runCli(['visualize', '--images', images, '--dt', withBoxes, '--gt', gtPath, '-o', out, '--score-thr', '0']);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`densekit: skipped ${join(images, '000002.png')}: cannot decode image`);
    expect(r.stderr).toMatch(/1 of 3 images skipped/);
    expect(pngsIn(out)).toEqual(['000001.png', '000003.png']);
  });

  it('a mask that does not fit its image, found after others were drawn, leaves no PNG behind (exit 2 naming the entry)', () => {
    const bad = join(tmp(), 'bad-mask.json');
    const entries = JSON.parse(readFileSync(withBoxes, 'utf8')) as { image_id: number; segmentation: { size: number[] } }[];
    const last = entries.findLastIndex((e) => e.image_id === 3);
    entries[last]!.segmentation.size = [41, 40];
    writeFileSync(bad, JSON.stringify(entries));
    const out = join(tmp(), 'drawn');
    expect(badInput(runCli(['visualize', '--images', join(data, 'val'), '--dt', bad, '-o', out, '--score-thr', '0']))).toContain(
      `${bad}: entry ${last}: segmentation.size: mask is 40x41 (width x height) but its image is 40x40`,
    );
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('eval coco names each category of --json by the GT', () => {
    const json = join(tmp(), 'coco.json');
    const withBoxes = join(tmp(), 'boxes.json');
    writeFileSync(withBoxes, JSON.stringify(gt.annotations.map((a) => ({ image_id: a.image_id, category_id: a.category_id, score: 1, bbox: a.bbox }))));
    ok(runCli(['eval', 'coco', '--gt', gtPath, '--dt', withBoxes, '--json', json]));
    const per = (JSON.parse(readFileSync(json, 'utf8')) as { perCategory: { categoryId: number; name: string }[] }).perCategory;
    expect(per.map((c) => [c.categoryId, c.name])).toEqual(gt.categories.map((c) => [c.id, c.name]));
  });
});

describe('class names travel with label maps', () => {
  let data: string;
  let ann: string;
  let images: string;
  /** Predictions equal to the annotations (class ids, raw value - 1). */
  let preds: string;

  beforeAll(async () => {
    data = tmp();
    await writeSemanticDataset({ out: data, trainImages: 0, valImages: 2, size: 32, seed: 3 });
    ann = join(data, 'annotations', 'validation');
    images = join(data, 'images', 'validation');
    preds = join(data, 'pred');
    for (const f of readdirSync(ann)) {
      const m = await readLabelMap(join(ann, f));
      await writeLabelPng(join(preds, f), m.width, m.height, m.data.map((v) => v - 1));
    }
  });

  it("eval ade20k's table names the data's classes, as many as it has, not ADE20K's 150", () => {
    const table = ok(runCli(['eval', 'ade20k', '--gt-dir', ann, '--pred-dir', preds, '--reduce-zero-label']));
    const rows = table.split('\n').filter((l) => /^\| \S/.test(l) && !l.startsWith('| Class'));
    expect(rows.map((l) => l.split('|')[1]!.trim())).toEqual(JSON.parse(readFileSync(join(data, 'classes.json'), 'utf8')) as string[]);
    expect(table).toMatch(/mIoU: 100\.00/);
  });

  it('--classes overrides the names; names that do not fit the classes are refused naming the file', () => {
    const d = tmp();
    const mine = join(d, 'mine.txt');
    writeFileSync(mine, 'bg\nc1\nc2\nc3\nc4\n');
    expect(ok(runCli(['eval', 'ade20k', '--gt-dir', ann, '--pred-dir', preds, '--reduce-zero-label', '--classes', mine]))).toMatch(/\| c4 +\|/);
    const three = join(d, 'three.json');
    writeFileSync(three, '["a", "b", "c"]');
    expect(badInput(runCli(['eval', 'ade20k', '--gt-dir', ann, '--pred-dir', preds, '--reduce-zero-label', '--num-classes', '5', '--classes', three]))).toMatch(
      /three\.json: names 3 classes \(ids 0\.\.2\), but there are 5 \(--num-classes\)/,
    );
  });

  it("eval model's table is named by the data set's classes, and names that do not fit the model are refused before any image is run", async () => {
    const ds = loadSemanticDataset(images, ann, true);
    const ev = new SemanticEvaluator({ numClasses: 5, reduceZeroLabel: true });
    for (const r of ds.records) {
      const m = await readLabelMap(r.annotation);
      ev.add(m.data.map((v) => v - 1), m.data);
    }
    // What the task's evaluate does with evaluateSemantic's result.
    const report = semanticReport({ ...ev.metrics(), images: ev.images, classNames: ds.classNames }, 5);
    expect(report.perClass.map((c) => c.name)).toEqual(JSON.parse(readFileSync(join(data, 'classes.json'), 'utf8')) as string[]);
    // A model of 150 classes on this 5-class data: refused naming the classes file, the model never asked to run.
    const untouchable = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the model was used');
        },
      },
    );
    await expect(evaluateSemantic(untouchable as never, ds, { model: { head: { num_classes: 150 } } } as never)).rejects.toThrow(
      `${join(data, 'classes.json')}: names 5 classes (ids 0..4), but there are 150 (model.head.num_classes)`,
    );
  });

  it("ADE20K's names only for ADE20K's own folder: the same 150-class maps elsewhere are numbered", async () => {
    const values = Array.from({ length: 16 }, (_, i) => i + 1);
    const ade = join(tmp(), 'ADEChallengeData2016', 'annotations', 'validation');
    const other = join(tmp(), 'street', 'annotations', 'validation');
    for (const dir of [ade, other]) await writeLabelPng(join(dir, 'a.png'), 4, 4, values);
    const at = (dir: string) => ok(runCli(['eval', 'ade20k', '--gt-dir', dir, '--pred-dir', dir, '--num-classes', '150', '--reduce-zero-label']));
    expect(at(ade)).toMatch(new RegExp(`\\| ${ADE20K_CLASSES[0]} +\\|`));
    const numbered = at(other);
    expect(numbered).toMatch(/\| class 0 +\|/);
    expect(numbered).not.toMatch(/\| wall /);
  });

  it("visualize --semantic's legend names the data's classes", async () => {
    const out = join(tmp(), 'overlays');
    ok(runCli(['visualize', '--semantic', '--images', images, '--pred-dir', preds, '-o', out]));
    const first = readdirSync(preds).sort()[0]!;
    // The same files away from the data's classes.json are drawn with another legend.
    const elsewhere = tmp();
    cpSync(images, join(elsewhere, 'images'), { recursive: true });
    cpSync(preds, join(elsewhere, 'pred'), { recursive: true });
    ok(runCli(['visualize', '--semantic', '--images', join(elsewhere, 'images'), '--pred-dir', join(elsewhere, 'pred'), '-o', join(elsewhere, 'out')]));
    expect(readFileSync(join(out, first)).equals(readFileSync(join(elsewhere, 'out', first)))).toBe(false);
    const names = JSON.parse(readFileSync(join(data, 'classes.json'), 'utf8')) as string[];
    const img = await loadRgb(join(images, first));
    const pred = await readLabelMap(join(preds, first));
    const drawn = readFileSync(join(out, first));
    const byData = drawSemanticOverlay(img, pred.data, { className: (c) => names[c] ?? `class ${c}` });
    const byAde = drawSemanticOverlay(img, pred.data, { className: (c) => ADE20K_CLASSES[c] ?? `class ${c}` });
    expect(byData.equals(byAde)).toBe(false);
    expect(drawn.equals(byData)).toBe(true);
  });

  it('visualize --semantic skips an image that cannot be decoded and draws the others (exit 3)', () => {
    const imgs = join(tmp(), 'images');
    cpSync(images, imgs, { recursive: true });
    const [first, second] = readdirSync(imgs).sort();
    writeFileSync(join(imgs, first!), 'not a png');
    const out = join(tmp(), 'overlays');
    const r = runCli(['visualize', '--semantic', '--images', imgs, '--pred-dir', preds, '--gt-dir', ann, '--reduce-zero-label', '-o', out]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`densekit: skipped ${join(imgs, first!)}: cannot decode image`);
    const stem = second!.replace(/\.png$/, '');
    expect(pngsIn(out)).toEqual([`${stem}.png`, `${stem}_gt.png`]);
  });

  it('visualize --semantic with a label map whose image is missing names it and writes nothing', () => {
    const imgs = join(tmp(), 'images');
    cpSync(images, imgs, { recursive: true });
    const last = readdirSync(imgs).sort().at(-1)!;
    rmSync(join(imgs, last));
    const out = join(tmp(), 'overlays');
    mkdirSync(out);
    expect(badInput(runCli(['visualize', '--semantic', '--images', imgs, '--pred-dir', preds, '--gt-dir', ann, '-o', out]))).toMatch(new RegExp(`no image for 1 of the 2 label maps: ${last.replace('.', '\\.')}`));
    expect(readdirSync(out)).toEqual([]);
  });
});
