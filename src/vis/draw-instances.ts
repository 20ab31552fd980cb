import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { rleDecode, type Rle } from '@densekit/eval';
import type { HostImage } from '../io/rgb-image.js';
import { cssColor, textColorOn, type Rgb } from './palette.js';

/** One thing to draw: a box with a label, optionally a mask. */
export interface DrawItem {
  /** [x, y, w, h] in image pixels. */
  bbox: [number, number, number, number];
  label: string;
  color: Rgb;
  mask?: Rle;
  /** Draw the box dashed (e.g. a missed GT object). */
  dashed?: boolean;
}

export interface DrawOptions {
  maskAlpha?: number;
  /** Box line width; default scales with the image. */
  lineWidth?: number;
  fontSize?: number;
}

/** Blend masks into the RGB pixels (alpha over the object's colour). */
export function blendMasks(img: HostImage, items: DrawItem[], alpha: number): Uint8ClampedArray {
  const { width: w, height: h } = img;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    out[i * 4] = img.data[i * 3]!;
    out[i * 4 + 1] = img.data[i * 3 + 1]!;
    out[i * 4 + 2] = img.data[i * 3 + 2]!;
    out[i * 4 + 3] = 255;
  }
  for (const it of items) {
    if (!it.mask) continue;
    if (it.mask.h !== h || it.mask.w !== w) throw new Error(`mask is ${it.mask.w}x${it.mask.h}, image ${w}x${h}`);
    const col = rleDecode(it.mask);
    for (let x = 0; x < w; x++) {
      for (let y = 0; y < h; y++) {
        if (!col[x * h + y]) continue;
        const p = (y * w + x) * 4;
        for (let c = 0; c < 3; c++) out[p + c] = Math.round(out[p + c]! * (1 - alpha) + it.color[c]! * alpha);
      }
    }
  }
  return out;
}

/** Where a label goes: above the box when it fits, else inside its top; always inside the image. */
export function labelPlacement(bbox: [number, number, number, number], textW: number, textH: number, imgW: number, imgH: number): { x: number; y: number } {
  let x = Math.max(0, Math.min(bbox[0], imgW - textW));
  let y = bbox[1] - textH >= 0 ? bbox[1] - textH : bbox[1];
  y = Math.max(0, Math.min(y, imgH - textH));
  x = Math.max(0, x);
  return { x, y };
}

function drawLabel(ctx: SKRSContext2D, it: DrawItem, fontSize: number, w: number, h: number): void {
  ctx.font = `${fontSize}px sans-serif`;
  const pad = Math.max(1, Math.round(fontSize / 6));
  const tw = Math.ceil(ctx.measureText(it.label).width) + 2 * pad;
  const th = fontSize + 2 * pad;
  const { x, y } = labelPlacement(it.bbox, tw, th, w, h);
  ctx.fillStyle = cssColor(it.color, 0.85);
  ctx.fillRect(x, y, tw, th);
  ctx.fillStyle = textColorOn(it.color);
  ctx.textBaseline = 'top';
  ctx.fillText(it.label, x + pad, y + pad);
}

/**
 * Draw instances over an image: masks blended, boxes outlined, labels on
 * filled tags sized to the image and kept inside it. Returns a PNG.
 */
export function drawInstances(img: HostImage, items: DrawItem[], opts: DrawOptions = {}): Buffer {
  const { width: w, height: h } = img;
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext('2d');
  const pixels = blendMasks(img, items, opts.maskAlpha ?? 0.45);
  const data = ctx.createImageData(w, h);
  data.data.set(pixels);
  ctx.putImageData(data, 0, 0);
  const short = Math.min(w, h);
  const lw = opts.lineWidth ?? Math.max(1, Math.round(short / 200));
  const fontSize = opts.fontSize ?? Math.max(9, Math.round(short / 32));
  for (const it of items) {
    ctx.strokeStyle = cssColor(it.color);
    ctx.lineWidth = lw;
    ctx.setLineDash(it.dashed ? [lw * 3, lw * 2] : []);
    ctx.strokeRect(it.bbox[0] + lw / 2, it.bbox[1] + lw / 2, Math.max(it.bbox[2] - lw, 1), Math.max(it.bbox[3] - lw, 1));
  }
  ctx.setLineDash([]);
  for (const it of items) drawLabel(ctx, it, fontSize, w, h);
  return canvas.toBuffer('image/png');
}
