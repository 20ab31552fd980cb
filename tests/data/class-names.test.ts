import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADE20K_CLASSES } from '../../src/data/ade20k-classes.js';
import { checkClassCount, className, findClassesFile, readClassesFile, resolveClassNames } from '../../src/data/class-names.js';
import { loadSemanticDataset } from '../../src/data/semantic-dataset.js';
import { DensekitError } from '../../src/util/errors.js';
import { writeLabelPng, writeRgbPng } from '../helpers/tiny-images.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'densekit-classes-'));
}

function write(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** The error a call throws (it must throw a DensekitError). */
function errorOf(fn: () => unknown): DensekitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DensekitError);
    return err as DensekitError;
  }
  throw new Error('expected an error');
}

describe('classes files', () => {
  it('reads a JSON list (id = position), COCO categories (id = category id) and text (one per line)', () => {
    const d = tmp();
    const list = readClassesFile(write(join(d, 'a.json'), '["sky", "road"]'));
    expect([className(list, 0), className(list, 1), className(list, 2)]).toEqual(['sky', 'road', 'class 2']);
    const coco = readClassesFile(write(join(d, 'b.json'), JSON.stringify({ images: [], categories: [{ id: 3, name: 'cat' }, { id: 7, name: 'dog' }] })));
    expect([className(coco, 3), className(coco, 7), className(coco, 0)]).toEqual(['cat', 'dog', 'class 0']);
    const text = readClassesFile(write(join(d, 'c.txt'), 'wall\r\nfloor\n\n'));
    expect([...text.byId.entries()]).toEqual([
      [0, 'wall'],
      [1, 'floor'],
    ]);
    expect(text.source).toBe(join(d, 'c.txt'));
  });

  it('refuses malformed files with the file and the entry named', () => {
    const d = tmp();
    expect(errorOf(() => readClassesFile(join(d, 'none.json'))).message).toBe(`${join(d, 'none.json')}: classes file not found`);
    expect(errorOf(() => readClassesFile(write(join(d, 'bad.json'), '["a", 3]'))).message).toBe(`${join(d, 'bad.json')}: entry 1: must be a class name (a non-empty string)`);
    expect(errorOf(() => readClassesFile(write(join(d, 'dup.json'), '{"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}'))).message).toMatch(/dup\.json: categories\[1\]\.id: category id 1 is listed twice$/);
    expect(errorOf(() => readClassesFile(write(join(d, 'obj.json'), '{"names": ["a"]}'))).message).toMatch(/obj\.json: expected a list of class names/);
    expect(errorOf(() => readClassesFile(write(join(d, 'trunc.json'), '["a", '))).message).toMatch(/trunc\.json: not valid JSON/);
    expect(errorOf(() => readClassesFile(write(join(d, 'empty.json'), '[]'))).message).toMatch(/empty\.json: names no classes/);
    expect(errorOf(() => readClassesFile(write(join(d, 'gap.txt'), 'a\n\nb\n'))).message).toMatch(/gap\.txt: line 2 is empty/);
  });
});

describe('resolving a data set\'s class names', () => {
  it('finds classes.json at the data set root, up to two folders above a data folder', () => {
    const root = tmp();
    const ann = join(root, 'annotations', 'validation');
    mkdirSync(ann, { recursive: true });
    expect(findClassesFile([ann])).toBeUndefined();
    write(join(root, 'classes.json'), '["background", "circle"]');
    expect(findClassesFile([ann])).toBe(join(root, 'classes.json'));
    // Three levels up is another data set's business.
    mkdirSync(join(ann, 'deeper'));
    expect(findClassesFile([join(ann, 'deeper')])).toBeUndefined();
  });

  it('precedence: --classes, then the GT categories, then the data\'s classes.json, then nothing', () => {
    const root = tmp();
    const images = join(root, 'val');
    mkdirSync(images);
    write(join(root, 'classes.json'), '{"categories": [{"id": 1, "name": "from-data"}]}');
    const file = write(join(root, 'mine.txt'), 'zero\nfrom-file\n');
    const categories = [{ id: 1, name: 'from-gt' }];
    expect(className(resolveClassNames({ file, categories, dataDirs: [images] }), 1)).toBe('from-file');
    expect(className(resolveClassNames({ categories, dataDirs: [images] }), 1)).toBe('from-gt');
    expect(className(resolveClassNames({ dataDirs: [images] }), 1)).toBe('from-data');
    const none = resolveClassNames({ dataDirs: [tmp()] });
    expect(none.source).toBeUndefined();
    expect(className(none, 1)).toBe('class 1');
  });

  it("ADE20K's names only for label maps inside ADE20K's release folder, and only for 150 classes", () => {
    const ade = join(tmp(), 'ADEChallengeData2016', 'annotations', 'validation');
    const other = join(tmp(), 'mydata', 'annotations', 'validation');
    mkdirSync(ade, { recursive: true });
    mkdirSync(other, { recursive: true });
    const a = resolveClassNames({ dataDirs: [ade], labelMaps: true });
    expect(className(a, 0)).toBe('wall');
    expect(a.byId.size).toBe(ADE20K_CLASSES.length);
    expect(resolveClassNames({ dataDirs: [other], labelMaps: true, count: 150 }).source).toBeUndefined();
    expect(resolveClassNames({ dataDirs: [ade], labelMaps: true, count: 5 }).source).toBeUndefined();
    // Instances never get ADE20K's names.
    expect(resolveClassNames({ dataDirs: [ade] }).source).toBeUndefined();
  });

  it('names read for label maps must be of classes 0..count-1', () => {
    const d = tmp();
    const five = write(join(d, 'five.json'), JSON.stringify(['bg', 'a', 'b', 'c', 'd']));
    expect(resolveClassNames({ file: five, labelMaps: true, count: 5 }).byId.size).toBe(5);
    expect(errorOf(() => resolveClassNames({ file: five, labelMaps: true, count: 150, countSource: '--num-classes' })).message).toBe(
      `${five}: names 5 classes (ids 0..4), but there are 150 (--num-classes); the names must be of classes 0..149`,
    );
    const byCategory = readClassesFile(write(join(d, 'cats.json'), '{"categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}'));
    expect(() => checkClassCount(byCategory, 2, 'model.head.num_classes')).toThrow(/ids 1\.\.2.*model\.head\.num_classes/);
  });

  it('a semantic data set carries the names of its classes.json', async () => {
    const root = tmp();
    await writeRgbPng(join(root, 'images', 'validation', 'x.png'), 4, 4);
    await writeLabelPng(join(root, 'annotations', 'validation', 'x.png'), 4, 4, new Uint8Array(16).fill(1));
    const bare = loadSemanticDataset(join(root, 'images', 'validation'), join(root, 'annotations', 'validation'), true);
    expect(bare.classNames.source).toBeUndefined();
    write(join(root, 'classes.json'), '["background", "circle"]');
    const named = loadSemanticDataset(join(root, 'images', 'validation'), join(root, 'annotations', 'validation'), true);
    expect(className(named.classNames, 1)).toBe('circle');
    write(join(root, 'classes.json'), '["background", ');
    expect(() => loadSemanticDataset(join(root, 'images', 'validation'), join(root, 'annotations', 'validation'), true)).toThrow(/classes\.json: not valid JSON/);
  });
});
