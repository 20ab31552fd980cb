import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coco } from '@densekit/eval';
import { imageIds, listImages } from '../../src/tasks/inputs.js';
import { imageFilesFromFolder, imageFilesFromGt, outputNames } from '../../src/vis/image-files.js';
import { StagedFolder } from '../../src/vis/staged-folder.js';

function folder(names: string[]): string {
  const d = mkdtempSync(join(tmpdir(), 'densekit-imgs-'));
  for (const n of names) writeFileSync(join(d, n), '');
  return d;
}

describe('image ids to files', () => {
  it('without a GT: the files predict gives those ids (the number in the name, else the position)', () => {
    const d = folder(['000005.png', 'cat.jpg', 'dog.png', 'notes.txt']);
    const files = imageFilesFromFolder([5, 3], d, 'r.json');
    expect(files.get(5)).toBe(join(d, '000005.png'));
    // dog.png is the third image of the folder: id 3, as predict numbers it.
    expect(files.get(3)).toBe(join(d, 'dog.png'));
    const predicted = new Map(imageIds(listImages([d])).map((x) => [x.imageId, x.file]));
    expect(files.get(3)).toBe(predicted.get(3));
  });

  it('without a GT: ids with no file are listed together', () => {
    const d = folder(['1.png', '5.png']);
    expect(() => imageFilesFromFolder([5, 7, 9], d, 'r.json')).toThrow(`${d}: no image for 2 image ids 7, 9 of r.json: without --gt`);
    expect(() => imageFilesFromFolder([1], join(d, 'nope'), 'r.json')).toThrow(`${join(d, 'nope')}: image folder not found`);
  });

  it('with a GT: its file_name, and every missing file named', () => {
    const d = folder(['a.png', 'c.png']);
    const gt = Coco.fromDataset(
      {
        images: ['a.png', 'b.png', 'c.png', 'sub/d.png'].map((file_name, i) => ({ id: i + 1, file_name, width: 4, height: 4 })),
        annotations: [],
        categories: [{ id: 1, name: 'x' }],
      },
      'gt.json',
    );
    expect(imageFilesFromGt([1, 3], gt, d).get(3)).toBe(join(d, 'c.png'));
    expect(() => imageFilesFromGt([1, 2, 3, 4], gt, d)).toThrow(`${d}: 2 of the 4 images to draw are not in the folder: b.png, sub/d.png (named by gt.json); nothing was drawn`);
  });

  it('output names are the image names, kept apart where they would collide', () => {
    expect(outputNames(['/x/a.jpg', '/x/b.png'])).toEqual(['a.png', 'b.png']);
    expect(outputNames(['/x/a.jpg', '/x/a.png', '/x/c.png'])).toEqual(['a.jpg.png', 'a.png.png', 'c.png']);
    expect(outputNames(['/x/a.jpg', '/y/a.jpg'])).toEqual(['a.jpg-1.png', 'a.jpg-2.png']);
  });
});

describe('staged output', () => {
  it('files appear only on commit; a failed run leaves the folder as it was (and removes one it made)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'densekit-stage-'));
    const out = join(base, 'out');
    await expect(
      StagedFolder.run(out, async (s) => {
        s.write('one.png', 'x');
        throw new Error('second image unreadable');
      }),
    ).rejects.toThrow('second image unreadable');
    expect(existsSync(out)).toBe(false);
    mkdirSync(out);
    writeFileSync(join(out, 'old.png'), 'old');
    await expect(
      StagedFolder.run(out, async (s) => {
        s.write('one.png', 'x');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readdirSync(out)).toEqual(['old.png']);
    const written = await StagedFolder.run(out, async (s) => {
      s.write('one.png', 'x');
      s.write('two.png', 'y');
      expect(readdirSync(out).filter((f) => !f.startsWith('.'))).toEqual(['old.png']);
    });
    expect(written).toEqual([join(out, 'one.png'), join(out, 'two.png')]);
    expect(readdirSync(out).sort()).toEqual(['old.png', 'one.png', 'two.png']);
  });
});
