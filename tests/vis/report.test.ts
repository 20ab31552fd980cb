import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeReport } from '../../src/vis/report.js';
import { cocoMetrics } from '../../src/tasks/detection/evaluate.js';
import { synthDataset } from '../helpers/synth-data.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('report.test: skipping the browser check: no chromium at /usr/bin/chromium (.ci/run installs it with apt)');

/** A run folder as training leaves it, with predictions equal to the GT (so metrics are known). */
async function fakeRun(): Promise<{ dir: string; images: number }> {
  const data = await synthDataset({ images: 2, val: 3, size: 64 });
  const gt = JSON.parse(readFileSync(data.val, 'utf8')) as { annotations: { image_id: number; category_id: number; bbox: number[]; segmentation: unknown }[] };
  const preds = gt.annotations.map((a, i) => ({ image_id: a.image_id, category_id: a.category_id, bbox: a.bbox, score: 0.9 - i * 0.01, segmentation: a.segmentation }));
  const dir = data.dir;
  writeFileSync(join(dir, 'config.yaml'), `data:\n  val:\n    images: ${join(dir, 'val')}\n    annotations: ${data.val}\n`);
  writeFileSync(join(dir, 'metrics.jsonl'), [1, 2, 3].map((i) => JSON.stringify({ iter: i * 10, lr: 0.001 / i, total_loss: 3 / i, loss_cls: 1 / i })).join('\n') + '\n');
  writeFileSync(join(dir, 'predictions_val.json'), JSON.stringify(preds));
  const { stats } = cocoMetrics(data.val, preds as never, ['bbox', 'segm']);
  writeFileSync(join(dir, 'eval.json'), JSON.stringify({ iter: 30, bbox: stats.bbox, segm: stats.segm }));
  return { dir, images: 3 };
}

describe('HTML report', () => {
  it('writes index.html with metrics, curves (PNG+SVG) and a gallery with relative paths', async () => {
    const { dir, images } = await fakeRun();
    const index = await writeReport(dir, { limit: 10 });
    const html = readFileSync(index, 'utf8');
    expect(html).toMatch(/<td>AP<\/td><td>100\.0<\/td><td>100\.0<\/td>/);
    for (const f of ['losses.png', 'losses.svg', 'lr.png', 'pr_bbox.png', 'pr_segm.svg']) expect(existsSync(join(dir, 'report', f)), f).toBe(true);
    expect((html.match(/<figure>/g) ?? []).length).toBe(images);
    expect(html).not.toMatch(/src="\//);
    expect(html).not.toMatch(/https?:/);
  });

  it.skipIf(!CHROMIUM)('renders in headless Chromium: every image loads, no console errors, the gallery has N items', async () => {
    const { chromium } = await import('playwright-core');
    const { dir, images } = await fakeRun();
    const index = await writeReport(dir, { limit: 10 });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${index}`);
      await page.waitForLoadState('load');
      const imgs = await page.$$eval('img', (els) => els.map((e) => ({ src: (e as unknown as { src: string }).src, w: (e as unknown as { naturalWidth: number }).naturalWidth })));
      expect(imgs.length).toBeGreaterThan(images);
      for (const i of imgs) expect(i.w, i.src).toBeGreaterThan(0);
      expect(await page.$$eval('.gallery figure', (els) => els.length)).toBe(images);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
