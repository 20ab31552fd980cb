import { createCanvas } from '@napi-rs/canvas';
import type { HostImage } from '../io/rgb-image.js';
import { ADE20K_PALETTE, cssColor, indexColor, type Rgb } from './palette.js';

export interface SemanticOverlayOptions {
  /** A class's name for the legend (see data/class-names.ts). */
  className: (id: number) => string;
  palette?: readonly Rgb[];
  alpha?: number;
  /** Label value drawn as transparent. */
  ignoreIndex?: number;
}

/**
 * Blend a class-id map (row-major, same size as the image) over the image
 * with a palette (ADE20K's by default), and add a legend of the classes
 * present, largest first. Returns a PNG.
 */
export function drawSemanticOverlay(img: HostImage, labels: ArrayLike<number>, o: SemanticOverlayOptions): Buffer {
  const { width: w, height: h } = img;
  if (labels.length !== w * h) throw new Error(`label map has ${labels.length} pixels, image ${w}x${h}`);
  const palette = o.palette ?? ADE20K_PALETTE;
  const color = (c: number): Rgb => palette[c] ?? indexColor(c);
  const alpha = o.alpha ?? 0.5;
  const ignore = o.ignoreIndex ?? 255;
  const counts = new Map<number, number>();
  const px = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const c = labels[i]!;
    let r = img.data[i * 3]!;
    let g = img.data[i * 3 + 1]!;
    let b = img.data[i * 3 + 2]!;
    if (c !== ignore) {
      const col = color(c);
      r = r * (1 - alpha) + col[0] * alpha;
      g = g * (1 - alpha) + col[1] * alpha;
      b = b * (1 - alpha) + col[2] * alpha;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    px[i * 4] = r;
    px[i * 4 + 1] = g;
    px[i * 4 + 2] = b;
    px[i * 4 + 3] = 255;
  }
  const present = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const font = Math.max(11, Math.round(Math.min(w, h) / 30));
  const rowH = font + 6;
  const legendW = Math.max(120, font * 10);
  const canvas = createCanvas(w + legendW, Math.max(h, rowH * present.length + 10));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const data = ctx.createImageData(w, h);
  data.data.set(px);
  ctx.putImageData(data, 0, 0);
  ctx.font = `${font}px sans-serif`;
  ctx.textBaseline = 'middle';
  present.forEach(([c, n], i) => {
    const y = 5 + i * rowH;
    ctx.fillStyle = cssColor(color(c));
    ctx.fillRect(w + 6, y, font, font);
    ctx.fillStyle = '#222';
    ctx.fillText(`${o.className(c)} ${((100 * n) / (w * h)).toFixed(0)}%`, w + 10 + font, y + font / 2);
  });
  return canvas.toBuffer('image/png');
}
