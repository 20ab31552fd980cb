import { describe, expect, it } from 'vitest';
import { rleDecode, rleEncode, rleFrPoly } from '@densekit/eval';
import { loadImage, createCanvas } from '@napi-rs/canvas';
import { blendMasks, drawInstances, labelPlacement } from '../../src/vis/draw-instances.js';
import { drawSemanticOverlay } from '../../src/vis/semantic-overlay.js';
import { linePlot, barPlot, ticks } from '../../src/vis/plots.js';
import { toPng, toSvg } from '../../src/vis/scene.js';
import { maskToRle, cropAndResizeMask } from '../../src/structures/masks.js';
import { matchForDisplay } from '../../src/vis/match.js';

function gray(w: number, h: number, v = 100) {
  return { data: new Uint8Array(w * h * 3).fill(v), width: w, height: h };
}

async function pixels(png: Buffer): Promise<{ w: number; h: number; at: (x: number, y: number) => number[] }> {
  const img = await loadImage(png);
  const c = createCanvas(img.width, img.height);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  return { w: img.width, h: img.height, at: (x, y) => Array.from(d.slice((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)) };
}

describe('drawing instances', () => {
  it("a box's edge pixels carry its colour, its mask is blended, the rest is untouched", async () => {
    const w = 120;
    const h = 90;
    const col = new Uint8Array(w * h);
    for (let x = 30; x < 60; x++) for (let y = 40; y < 70; y++) col[x * h + y] = 1;
    const png = drawInstances(gray(w, h), [{ bbox: [20, 30, 60, 50], label: 'cat 90%', color: [255, 0, 0], mask: rleEncode(col, h, w) }], { lineWidth: 2, maskAlpha: 0.5 });
    const p = await pixels(png);
    expect([p.w, p.h]).toEqual([w, h]);
    expect(p.at(20, 60)).toEqual([255, 0, 0]); // left edge
    expect(p.at(79, 60)).toEqual([255, 0, 0]); // right edge
    expect(p.at(45, 55)).toEqual([178, 50, 50]); // 0.5 * 100 + 0.5 * (255, 0, 0)
    expect(p.at(100, 10)).toEqual([100, 100, 100]);
  });

  it('labels stay inside the image at any size', () => {
    expect(labelPlacement([0, 0, 10, 10], 50, 12, 100, 100)).toEqual({ x: 0, y: 0 });
    expect(labelPlacement([95, 50, 5, 5], 50, 12, 100, 100)).toEqual({ x: 50, y: 38 });
    expect(labelPlacement([10, 95, 5, 5], 30, 12, 100, 100)).toEqual({ x: 10, y: 83 });
  });

  it('polygon and RLE masks blend the same pixels as the mask API decodes', () => {
    const poly = [10, 10, 50, 12, 40, 45, 12, 38];
    const rle = rleFrPoly(poly, 60, 70);
    const viaPoly = maskToRle({ kind: 'polygons', polygons: [poly] }, 60, 70);
    expect(Array.from(viaPoly.counts)).toEqual(Array.from(rle.counts));
    const img = gray(70, 60, 0);
    const blended = blendMasks(img, [{ bbox: [0, 0, 1, 1], label: '', color: [200, 200, 200], mask: viaPoly }], 1);
    const col = rleDecode(rle);
    for (let x = 0; x < 70; x++) for (let y = 0; y < 60; y++) expect(blended[(y * 70 + x) * 4]).toBe(col[x * 60 + y] ? 200 : 0);
  });

  it('semantic overlay blends the palette and adds a legend panel', async () => {
    const labels = new Uint8Array(40 * 30).fill(255);
    labels.fill(2, 0, 40 * 10);
    const png = drawSemanticOverlay(gray(40, 30, 0), labels, { className: (c) => ['a', 'b', 'sky'][c] ?? `class ${c}`, alpha: 1 });
    const p = await pixels(png);
    expect(p.w).toBeGreaterThan(40);
    expect(p.at(5, 5)).toEqual([6, 230, 230]);
    expect(p.at(5, 25)).toEqual([0, 0, 0]);
  });
});

describe('plots', () => {
  it('a line plot exports the requested size as PNG and valid SVG', async () => {
    const scene = linePlot({ title: 'loss', xLabel: 'iter', yLabel: 'loss', series: [{ name: 'total', x: [1, 2, 3], y: [3, 2, 1] }], width: 500, height: 300, logY: true });
    const p = await pixels(toPng(scene));
    expect([p.w, p.h]).toEqual([500, 300]);
    const svg = toSvg(scene);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/width="500" height="300"/);
    expect(svg).toMatch(/<polyline points="[\d., ]+" fill="none" stroke="rgb/);
    const bars = toSvg(barPlot({ title: 'IoU', labels: ['a', 'b'], values: [0.5, null], yLabel: 'IoU', yRange: [0, 1] }));
    expect(bars).toMatch(/n\/a/);
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe('mask targets and display matching', () => {
  it('polygon and bitmap mask targets agree for a rectangle', () => {
    const h = 50;
    const w = 60;
    const col = new Uint8Array(h * w);
    for (let x = 10; x < 30; x++) for (let y = 5; y < 25; y++) col[x * h + y] = 1;
    const box = [8, 3, 32, 27];
    const a = cropAndResizeMask({ kind: 'rle', rle: rleEncode(col, h, w) }, box, 28, h, w);
    const b = cropAndResizeMask({ kind: 'polygons', polygons: [[10, 5, 30, 5, 30, 25, 10, 25]] }, box, 28, h, w);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    expect(diff / a.length).toBeLessThan(0.05);
    expect(a.reduce((s, v) => s + v, 0)).toBeGreaterThan(300);
  });

  it('marks false positives and misses at IoU 0.5 per category', () => {
    const r = matchForDisplay(
      [
        { bbox: [0, 0, 10, 10], category_id: 1, score: 0.9 },
        { bbox: [0, 0, 10, 10], category_id: 1, score: 0.8 },
        { bbox: [50, 50, 10, 10], category_id: 2, score: 0.7 },
      ],
      [
        { bbox: [1, 1, 10, 10], category_id: 1 },
        { bbox: [50, 50, 10, 10], category_id: 3 },
      ],
    );
    expect(r.dtMatched).toEqual([true, false, false]);
    expect(r.gtMatched).toEqual([true, false]);
  });
});
