import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSemanticDataset, writeShapesDataset } from '../../src/data/synthesize.js';
import { className, resolveClassNames } from '../../src/data/class-names.js';
import { readLabelMap } from '../../src/io/image.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'densekit-synth-'));
}

describe('synthetic data sets carry their class names', () => {
  it('shapes: classes.json at the root holds the COCO files\' categories, found from the image folder', async () => {
    const out = tmp();
    const r = await writeShapesDataset({ out, trainImages: 1, valImages: 1, size: 32, seed: 1, classes: ['ring', 'circle'] });
    const categories = (JSON.parse(readFileSync(r.val, 'utf8')) as { categories: unknown }).categories;
    expect(categories).toEqual([
      { id: 1, name: 'ring', supercategory: 'shape' },
      { id: 2, name: 'circle', supercategory: 'shape' },
    ]);
    expect(r.classes).toBe(join(out, 'classes.json'));
    expect((JSON.parse(readFileSync(r.classes, 'utf8')) as { categories: unknown }).categories).toEqual(categories);
    const names = resolveClassNames({ dataDirs: [join(out, 'val')] });
    expect([className(names, 1), className(names, 2)]).toEqual(['ring', 'circle']);
  });

  it('semantic: classes.json lists background and the chosen shapes, and the label maps use those ids', async () => {
    const out = tmp();
    const r = await writeSemanticDataset({ out, trainImages: 1, valImages: 3, size: 32, seed: 4, classes: ['triangle', 'square'] });
    expect(JSON.parse(readFileSync(r.classes, 'utf8'))).toEqual(['background', 'triangle', 'square']);
    const ann = join(out, 'annotations', 'validation');
    const seen = new Set<number>();
    for (const f of readdirSync(ann)) for (const v of (await readLabelMap(join(ann, f))).data) seen.add(v);
    // Raw values are class id + 1: background 1, then the two chosen shapes only.
    for (const v of seen) expect([1, 2, 3]).toContain(v);
    expect(seen.has(1)).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('all shapes by default, and an unknown or repeated class is refused', async () => {
    const out = tmp();
    const r = await writeSemanticDataset({ out, trainImages: 0, valImages: 1, size: 32, seed: 0 });
    expect(JSON.parse(readFileSync(r.classes, 'utf8'))).toEqual(['background', 'circle', 'square', 'triangle', 'ring']);
    await expect(writeShapesDataset({ out: tmp(), trainImages: 1, valImages: 1, size: 32, seed: 0, classes: ['hexagon'] })).rejects.toThrow(/unknown shape class "hexagon"/);
    await expect(writeSemanticDataset({ out: tmp(), trainImages: 1, valImages: 1, size: 32, seed: 0, classes: ['ring', 'ring'] })).rejects.toThrow(/"ring" is listed twice/);
  });
});
