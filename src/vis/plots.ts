import { cssColor, indexColor } from './palette.js';
import type { Scene, Shape } from './scene.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  logY?: boolean;
  /** Fix the y range (e.g. [0, 1] for precision). */
  yRange?: [number, number];
}

const MARGIN = { left: 64, right: 150, top: 36, bottom: 48 };

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

function frame(title: string, w: number, h: number): Shape[] {
  return [{ kind: 'text', x: w / 2, y: 22, text: title, size: 15, fill: '#222', anchor: 'middle' }];
}

/** A line chart of one or more series, with axes, ticks and a legend. */
export function linePlot(o: LinePlotOptions): Scene {
  const w = o.width ?? 640;
  const h = o.height ?? 400;
  const shapes: Shape[] = frame(o.title, w, h);
  const px0 = MARGIN.left;
  const px1 = w - MARGIN.right;
  const py0 = h - MARGIN.bottom;
  const py1 = MARGIN.top;
  const tf = (v: number) => (o.logY ? Math.log10(Math.max(v, 1e-12)) : v);
  const xs = o.series.flatMap((s) => s.x);
  const ys = o.series.flatMap((s) => s.y.filter(Number.isFinite).map(tf));
  const xmin = xs.length ? Math.min(...xs) : 0;
  const xmax = xs.length ? Math.max(...xs) : 1;
  let [ymin, ymax] = o.yRange ? o.yRange.map(tf) as [number, number] : [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (ymin === ymax) [ymin, ymax] = [ymin - 1, ymax + 1];
  const X = (v: number) => px0 + ((v - xmin) / (xmax - xmin || 1)) * (px1 - px0);
  const Y = (v: number) => py0 - ((tf(v) - ymin) / (ymax - ymin)) * (py0 - py1);
  shapes.push({ kind: 'rect', x: px0, y: py1, w: px1 - px0, h: py0 - py1, stroke: '#999' });
  for (const t of ticks(xmin, xmax)) {
    shapes.push({ kind: 'polyline', points: [[X(t), py0], [X(t), py0 + 4]], stroke: '#666', width: 1 });
    shapes.push({ kind: 'text', x: X(t), y: py0 + 17, text: fmt(t), size: 11, fill: '#444', anchor: 'middle' });
  }
  for (const t of ticks(ymin, ymax)) {
    const yv = o.logY ? 10 ** t : t;
    shapes.push({ kind: 'polyline', points: [[px0 - 4, Y(yv)], [px1, Y(yv)]], stroke: '#e4e4e4', width: 1 });
    shapes.push({ kind: 'text', x: px0 - 7, y: Y(yv) + 4, text: fmt(yv), size: 11, fill: '#444', anchor: 'end' });
  }
  shapes.push({ kind: 'text', x: (px0 + px1) / 2, y: h - 10, text: o.xLabel, size: 12, fill: '#333', anchor: 'middle' });
  shapes.push({ kind: 'text', x: 16, y: (py0 + py1) / 2, text: o.yLabel, size: 12, fill: '#333', anchor: 'middle', rotate: -90 });
  o.series.forEach((s, i) => {
    const color = cssColor(indexColor(i));
    const pts: [number, number][] = [];
    s.x.forEach((x, k) => {
      if (Number.isFinite(s.y[k]!)) pts.push([X(x), Y(s.y[k]!)]);
    });
    shapes.push({ kind: 'polyline', points: pts, stroke: color, width: 2 });
    const ly = py1 + 14 + i * 18;
    shapes.push({ kind: 'polyline', points: [[px1 + 10, ly - 4], [px1 + 28, ly - 4]], stroke: color, width: 3 });
    shapes.push({ kind: 'text', x: px1 + 34, y: ly, text: s.name, size: 11, fill: '#222' });
  });
  return { width: w, height: h, background: '#fff', shapes };
}

/** A bar chart (null values drawn as "n/a"). */
export function barPlot(o: { title: string; labels: string[]; values: (number | null)[]; yLabel: string; width?: number; height?: number; yRange?: [number, number] }): Scene {
  const w = o.width ?? Math.max(480, 60 + o.labels.length * 14);
  const h = o.height ?? 420;
  const shapes: Shape[] = frame(o.title, w, h);
  const px0 = MARGIN.left;
  const px1 = w - 20;
  const py0 = h - 110;
  const py1 = MARGIN.top;
  const vals = o.values.filter((v): v is number => v !== null);
  const [lo, hi] = o.yRange ?? [0, vals.length ? Math.max(...vals, 1e-9) : 1];
  const Y = (v: number) => py0 - ((v - lo) / (hi - lo || 1)) * (py0 - py1);
  shapes.push({ kind: 'rect', x: px0, y: py1, w: px1 - px0, h: py0 - py1, stroke: '#999' });
  for (const t of ticks(lo, hi)) {
    shapes.push({ kind: 'polyline', points: [[px0 - 4, Y(t)], [px1, Y(t)]], stroke: '#e4e4e4', width: 1 });
    shapes.push({ kind: 'text', x: px0 - 7, y: Y(t) + 4, text: fmt(t), size: 11, fill: '#444', anchor: 'end' });
  }
  const bw = (px1 - px0) / Math.max(o.labels.length, 1);
  o.labels.forEach((label, i) => {
    const v = o.values[i];
    const x = px0 + i * bw;
    if (v !== null && v !== undefined) shapes.push({ kind: 'rect', x: x + bw * 0.15, y: Y(v), w: bw * 0.7, h: py0 - Y(v), fill: cssColor(indexColor(i)) });
    else shapes.push({ kind: 'text', x: x + bw / 2, y: py0 - 4, text: 'n/a', size: 9, fill: '#999', anchor: 'middle' });
    shapes.push({ kind: 'text', x: x + bw / 2 + 3, y: py0 + 8, text: label, size: 10, fill: '#333', anchor: 'end', rotate: -60 });
  });
  shapes.push({ kind: 'text', x: 16, y: (py0 + py1) / 2, text: o.yLabel, size: 12, fill: '#333', anchor: 'middle', rotate: -90 });
  return { width: w, height: h, background: '#fff', shapes };
}
