import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rleDecode, rleEncode, rleToString } from '@densekit/eval';
import { Rng } from '../../src/engine/random.js';
import { applyToImage, applyToObjects, sampleLsj, testGeometry, type Geometry } from '../../src/data/transforms.js';
import { loadCocoDataset } from '../../src/data/coco-dataset.js';
import { TrainLoader } from '../../src/data/loader.js';
import { inputSchema } from '../../src/config/schema.js';
import { synthDataset } from '../helpers/synth-data.js';

describe('geometric transforms', () => {
  it('LSJ keeps aspect, shares one crop fraction for both axes, and stays within the target', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 50; i++) {
      const g = sampleLsj(300, 200, 128, 0.1, 2.0, 0.5, rng);
      expect(g.outH).toBeLessThanOrEqual(128);
      expect(g.outW).toBeLessThanOrEqual(128);
      expect(Math.abs(g.scaledH - 1.5 * g.scaledW)).toBeLessThanOrEqual(1.5); // aspect kept up to rounding
      if (g.scaledH > 128 && g.scaledW > 128) {
        // One u explains both offsets: the rounding intervals of u overlap.
        const [a, b] = [g.scaledH - 128, g.scaledW - 128];
        const lo = Math.max((g.offY - 0.5) / a, (g.offX - 0.5) / b);
        const hi = Math.min((g.offY + 0.5) / a, (g.offX + 0.5) / b);
        expect(lo).toBeLessThanOrEqual(hi + 1e-12);
      }
    }
    expect(testGeometry(480, 640, 1024)).toMatchObject({ scaledH: 768, scaledW: 1024 });
  });

  it('flip + scale + crop moves a polygon, an RLE mask and the image consistently', async () => {
    const h = 20;
    const w = 30;
    // A 4x6 block at x 2..7, y 3..6.
    const col = new Uint8Array(h * w);
    for (let x = 2; x < 8; x++) for (let y = 3; y < 7; y++) col[x * h + y] = 1;
    const g: Geometry = { flip: true, scaledH: 40, scaledW: 60, offY: 4, offX: 10, outH: 30, outW: 40 };
    const gt = applyToObjects(
      [
        { box: [2, 3, 8, 7], classIndex: 1, mask: { kind: 'rle', rle: rleEncode(col, h, w) } },
        { box: [2, 3, 8, 7], classIndex: 2, mask: { kind: 'polygons', polygons: [[2, 3, 8, 3, 8, 7, 2, 7]] } },
      ],
      h,
      w,
      g,
    );
    // flipped x: 30-8..30-2 = 22..28 → ×2 = 44..56 → −10 = 34..46 (clipped to 40); y: 3..7 → 6..14 → 2..10
    expect(Array.from(gt.boxes)).toEqual([34, 2, 40, 10, 34, 2, 40, 10]);
    expect(Array.from(gt.classes)).toEqual([1, 2]);
    const img = { data: new Uint8Array(h * w * 3), width: w, height: h };
    for (let x = 2; x < 8; x++) for (let y = 3; y < 7; y++) img.data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const out = await applyToImage(img, g);
    expect([out.width, out.height]).toEqual([40, 30]);
    const m = rleDecode(gt.masks![0]!.kind === 'rle' ? gt.masks![0]!.rle : (undefined as never));
    // Inside the mask the image is bright, outside dark.
    expect(out.data[(5 * 40 + 36) * 3]).toBeGreaterThan(200);
    expect(m[36 * 30 + 5]).toBe(1);
    expect(out.data[(20 * 40 + 20) * 3]).toBeLessThan(50);
    expect(m[20 * 30 + 20]).toBe(0);
  });

  it('drops objects the crop removes', () => {
    const g: Geometry = { flip: false, scaledH: 100, scaledW: 100, offY: 50, offX: 50, outH: 50, outW: 50 };
    const gt = applyToObjects([{ box: [0, 0, 10, 10], classIndex: 0 }], 100, 100, g);
    expect(gt.boxes.length).toBe(0);
  });
});

describe('COCO-format datasets', () => {
  it('indexes images, maps category ids to contiguous classes, skips crowd regions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dk-coco-'));
    const rle = { size: [10, 10], counts: rleToString(rleEncode(new Uint8Array(100).fill(1, 0, 30), 10, 10)) };
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify({
        images: [
          { id: 7, file_name: 'x.png', width: 10, height: 10 },
          { id: 9, file_name: 'y.png', width: 10, height: 10 },
        ],
        categories: [
          { id: 20, name: 'b' },
          { id: 5, name: 'a' },
        ],
        annotations: [
          { id: 1, image_id: 7, category_id: 20, bbox: [0, 0, 3, 10], area: 30, iscrowd: 0, segmentation: rle },
          { id: 2, image_id: 7, category_id: 5, bbox: [1, 1, 4, 4], area: 16, iscrowd: 1, segmentation: rle },
          { id: 3, image_id: 7, category_id: 5, bbox: [1, 1, 4, 4], area: 16, iscrowd: 0, segmentation: [[1, 1, 5, 1, 5, 5]] },
        ],
      }),
    );
    const ds = loadCocoDataset(join(dir, 'a.json'), dir, { filterEmpty: true });
    expect(ds.categoryIds).toEqual([5, 20]);
    expect(ds.categoryNames).toEqual(['a', 'b']);
    expect(ds.records).toHaveLength(1);
    const r = ds.records[0]!;
    expect(r.file).toBe(join(dir, 'x.png'));
    expect(r.objects.map((o) => o.classIndex)).toEqual([1, 0]);
    expect(r.objects[0]!.box).toEqual([0, 0, 3, 10]);
    expect(r.objects[0]!.mask!.kind).toBe('rle');
    expect(r.objects[1]!.mask!.kind).toBe('polygons');
    expect(loadCocoDataset(join(dir, 'a.json'), dir).records).toHaveLength(2);
  });

  it('a missing image is a clear error naming it; a bad annotation names file and entry', async () => {
    const data = await synthDataset({ images: 2, val: 1 });
    const ds = loadCocoDataset(data.train, join(data.dir, 'nowhere'));
    const loader = new TrainLoader(ds, inputSchema.parse({ train_size: 64 }), 1, 0, 0, 0);
    await expect(loader.next()).rejects.toThrow(/nowhere\/000001\.png|nowhere\/000002\.png/);
    const bad = join(data.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ images: [{ id: 1, file_name: 'a.png', width: 4, height: 4 }], categories: [{ id: 1, name: 'x' }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 1] }] }));
    expect(() => loadCocoDataset(bad, data.dir)).toThrow(/bad\.json: entry 0: annotations\.bbox/);
  });

  it('the loader is deterministic: the same position gives the same batch', async () => {
    const data = await synthDataset({ images: 5, val: 1 });
    const ds = loadCocoDataset(data.train, join(data.dir, 'train'));
    const input = inputSchema.parse({ train_size: 64 });
    const a = new TrainLoader(ds, input, 2, 11, 0);
    await a.next();
    const a2 = await a.next();
    const b = new TrainLoader(ds, input, 2, 11, 1);
    const b1 = await b.next();
    expect(b1.imageIds).toEqual(a2.imageIds);
    expect(Array.from(b1.gt[0]!.boxes)).toEqual(Array.from(a2.gt[0]!.boxes));
    expect(Buffer.from(b1.images[1]!.data).equals(Buffer.from(a2.images[1]!.data))).toBe(true);
  });
});
