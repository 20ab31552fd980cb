import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Coco, CocoEval } from '@densekit/eval';
import { parse as parseYaml } from 'yaml';
import { writeFileAtomic } from '../util/atomic-write.js';
import { DensekitError } from '../util/errors.js';
import { RUN_FILES, readEvalRecord, readMetrics, runPaths, type MetricsRecord } from '../train/run-folder.js';
import type { CocoDetection } from '../detection/postprocess.js';
import { linePlot, type Series } from './plots.js';
import { toPng, toSvg, type Scene } from './scene.js';
import { visualizeCoco } from './visualize-coco.js';
import { resolveClassNames } from '../data/class-names.js';
import type { SkippedImage } from '../tasks/task.js';

const STAT_LABELS = ['AP', 'AP50', 'AP75', 'AP small', 'AP medium', 'AP large', 'AR@1', 'AR@10', 'AR@100', 'AR small', 'AR medium', 'AR large'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function savePlot(dir: string, name: string, scene: Scene): string {
  writeFileAtomic(join(dir, `${name}.png`), toPng(scene));
  writeFileAtomic(join(dir, `${name}.svg`), toSvg(scene));
  return `${name}.png`;
}

/** Training curves from a JSONL metrics log: each loss term, and the learning rate. */
export function trainingCurves(records: MetricsRecord[]): { losses: Scene; lr: Scene } | undefined {
  const train = records.filter((r) => r.type === undefined);
  if (train.length === 0) return undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const keys = [...new Set(train.flatMap((r) => Object.keys(r)))].filter((k) => k === 'total_loss' || k.startsWith('loss_'));
  const series: Series[] = keys.map((k) => ({ name: k, x: train.map((r) => r.iter), y: train.map((r) => num(r[k])) }));
  return {
    losses: linePlot({ title: 'training losses', xLabel: 'iteration', yLabel: 'loss', series, logY: true }),
    lr: linePlot({ title: 'learning rate', xLabel: 'iteration', yLabel: 'lr', series: [{ name: 'lr', x: train.map((r) => r.iter), y: train.map((r) => num(r.lr)) }] }),
  };
}

/** Precision/recall curves (area all, maxDets 100): IoU 0.5, 0.75 and the mean over IoUs, averaged over categories. */
export function prCurves(E: CocoEval, title: string): Scene {
  const acc = E.eval!;
  const [T, R, K, A, M] = acc.counts;
  const curve = (ts: number[]) =>
    Array.from({ length: R }, (_, r) => {
      let s = 0;
      let n = 0;
      for (const t of ts)
        for (let k = 0; k < K; k++) {
          const v = acc.precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)]!;
          if (v > -1) {
            s += v;
            n++;
          }
        }
      return n ? s / n : NaN;
    });
  const rec = E.params.recThrs;
  return linePlot({
    title,
    xLabel: 'recall',
    yLabel: 'precision',
    yRange: [0, 1],
    series: [
      { name: 'IoU 0.50', x: rec, y: curve([0]) },
      { name: 'IoU 0.75', x: rec, y: curve([5]) },
      { name: 'IoU 0.50:0.95', x: rec, y: curve([...Array(T).keys()]) },
    ],
  });
}

export interface ReportOptions {
  /** Images in the gallery (default 12). */
  limit?: number;
  /** A classes file naming the gallery's classes instead of the validation GT's categories. */
  classesFile?: string;
  /** Told of the gallery images skipped because their files do not decode (of `total` to draw), when there are any. */
  onSkipped?: (skipped: SkippedImage[], total: number) => void;
}

/**
 * Write `<run>/report/index.html`: the config, the final metrics, training
 * curves, PR curves and a gallery of drawn validation predictions (GT vs
 * predictions). Self-contained: relative paths, no network.
 */
export async function writeReport(runDir: string, opts: ReportOptions = {}): Promise<string> {
  const paths = runPaths(runDir);
  if (!existsSync(paths.config)) throw new DensekitError(`not a training run folder (no ${RUN_FILES.config})`, { file: runDir });
  const out = paths.report;
  mkdirSync(join(out, 'gallery'), { recursive: true });
  const configText = readFileSync(paths.config, 'utf8');
  const config = parseYaml(configText) as { data?: { val?: { images: string; annotations: string } } };
  const sections: string[] = [];
  const records = readMetrics(runDir);
  const ev = readEvalRecord(runDir);
  if (ev) {
    const lastEval = records.filter((r) => r.type === 'eval').at(-1);
    const when = lastEval ? ` (iteration ${lastEval.iter})` : '';
    // pycocotools reports -1 where no GT falls in an area range.
    const pct = (v: number | undefined) => (v === undefined || v < 0 || Number.isNaN(v) ? '–' : (v * 100).toFixed(1));
    if ('bbox' in ev) {
      const { bbox, segm } = ev;
      const rows = STAT_LABELS.map((l, i) => `<tr><td>${l}</td><td>${pct(bbox[i])}</td>${segm ? `<td>${pct(segm[i])}</td>` : ''}</tr>`).join('\n');
      sections.push(`<h2>Validation metrics${when}</h2>\n<table><tr><th></th><th>box</th>${segm ? '<th>mask</th>' : ''}</tr>\n${rows}\n</table>`);
    } else {
      const rows = (['mIoU', 'mAcc', 'aAcc'] as const).map((k) => `<tr><td>${k}</td><td>${pct(ev[k])}</td></tr>`).join('\n');
      sections.push(`<h2>Validation metrics${when}</h2>\n<table>\n${rows}\n</table>`);
    }
  }
  const curves = trainingCurves(records);
  const plots: string[] = [];
  if (curves) plots.push(savePlot(out, 'losses', curves.losses), savePlot(out, 'lr', curves.lr));
  const predPath = paths.valPredictions;
  let gallery: string[] = [];
  if (existsSync(predPath) && config.data?.val) {
    const results = JSON.parse(readFileSync(predPath, 'utf8')) as CocoDetection[];
    const gt = Coco.fromFile(config.data.val.annotations);
    const classNames = resolveClassNames({ file: opts.classesFile, categories: gt.dataset.categories, categoriesSource: gt.source, dataDirs: [config.data.val.images] });
    if (results.length > 0) {
      for (const t of ['bbox', 'segm'] as const) {
        if (t === 'segm' && !results.some((r) => r.segmentation)) continue;
        const rows = t === 'segm' ? results.map(({ bbox: _b, ...r }) => r) : results.map(({ segmentation: _s, ...r }) => r);
        const E = new CocoEval(gt, gt.loadRes(rows, predPath), t);
        E.evaluate();
        E.accumulate();
        plots.push(savePlot(out, `pr_${t}`, prCurves(E, `precision / recall (${t})`)));
      }
    }
    const drawn = await visualizeCoco({ imagesDir: config.data.val.images, results, resultsFile: predPath, gt, classNames, outDir: join(out, 'gallery'), scoreThreshold: 0.3, limit: opts.limit ?? 12 });
    gallery = drawn.files;
    if (drawn.skipped.length > 0) opts.onSkipped?.(drawn.skipped, drawn.total);
  }
  if (plots.length) sections.push(`<h2>Curves</h2>\n${plots.map((p) => `<img class="plot" src="${p}" alt="${p}">`).join('\n')}`);
  if (gallery.length) {
    sections.push(
      `<h2>Predictions on validation images (score ≥ 0.3)</h2>\n<div class="gallery">\n${gallery
        .map((g) => `<figure><img src="${relative(out, g)}" alt="${esc(relative(out, g))}"><figcaption>${esc(relative(join(out, 'gallery'), g))}</figcaption></figure>`)
        .join('\n')}\n</div>`,
    );
  }
  sections.push(`<h2>Config</h2>\n<pre>${esc(configText)}</pre>`);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>densekit report: ${esc(runDir)}</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 10px;text-align:right}
.plot{max-width:640px;margin:6px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0}figure img{width:400px;max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:12px;color:#666}
pre{background:#f6f6f6;padding:10px;font-size:12px;overflow:auto}
</style></head><body>
<h1>densekit training report</h1>
<p>${esc(runDir)}</p>
${sections.join('\n')}
</body></html>
`;
  const index = join(out, 'index.html');
  writeFileAtomic(index, html);
  return index;
}
