import sharp from 'sharp';
import { rleDecode, rleEncode, rleToBbox } from '@densekit/eval';
import type { Rng } from '../engine/random.js';
import type { HostImage } from '../io/rgb-image.js';
import type { GtInstances } from '../structures/instances.js';
import type { InstanceMask } from '../structures/masks.js';
import type { ObjectRecord } from './coco-dataset.js';

/**
 * A geometric transform of an image: optional horizontal flip, scale, then
 * a crop window of the scaled image (offset, size).
 */
export interface Geometry {
  flip: boolean;
  /** Scaled image size. */
  scaledH: number;
  scaledW: number;
  /** Crop offset and output size in the scaled image. */
  offY: number;
  offX: number;
  outH: number;
  outW: number;
}

/**
 * ViTDet's large-scale jitter: flip with probability p, then
 * ResizeScale(min, max, target): scale = s·min(target/h, target/w) with
 * s ~ U(min, max), size rounded; then FixedSizeCrop(target) with one offset
 * fraction u ~ U(0, 1) shared by both axes (images smaller than the target
 * are padded later by the batch's square pad).
 */
export function sampleLsj(h: number, w: number, target: number, minScale: number, maxScale: number, flipProb: number, rng: Rng): Geometry {
  const flip = rng.uniform() < flipProb;
  const s = rng.range(minScale, maxScale);
  const scale = Math.min((s * target) / h, (s * target) / w);
  const scaledH = Math.max(1, Math.round(h * scale));
  const scaledW = Math.max(1, Math.round(w * scale));
  const u = rng.uniform();
  const offY = Math.round(Math.max(scaledH - target, 0) * u);
  const offX = Math.round(Math.max(scaledW - target, 0) * u);
  return { flip, scaledH, scaledW, offY, offX, outH: Math.min(scaledH, target), outW: Math.min(scaledW, target) };
}

/** Test-time resize: the longer side becomes `size` (ResizeShortestEdge(size, max_size=size)). */
export function testGeometry(h: number, w: number, size: number): Geometry {
  const scale = size / Math.max(h, w);
  const scaledH = Math.max(1, Math.round(h * scale));
  const scaledW = Math.max(1, Math.round(w * scale));
  return { flip: false, scaledH, scaledW, offY: 0, offX: 0, outH: scaledH, outW: scaledW };
}

/** Apply a geometry to an RGB image (flip, bilinear resize, crop) with libvips. */
export async function applyToImage(img: HostImage, g: Geometry): Promise<HostImage> {
  let s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
  if (g.flip) s = s.flop();
  if (g.scaledW !== img.width || g.scaledH !== img.height) s = s.resize(g.scaledW, g.scaledH, { kernel: 'linear', fit: 'fill' });
  if (g.offX !== 0 || g.offY !== 0 || g.outW !== g.scaledW || g.outH !== g.scaledH) {
    // Materialise the resize first so the crop applies to the scaled image.
    const scaled = await s.raw().toBuffer();
    s = sharp(scaled, { raw: { width: g.scaledW, height: g.scaledH, channels: 3 } }).extract({ left: g.offX, top: g.offY, width: g.outW, height: g.outH });
  }
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

function mapX(x: number, w: number, g: Geometry): number {
  return (g.flip ? w - x : x) * (g.scaledW / w) - g.offX;
}

function mapY(y: number, h: number, g: Geometry): number {
  return y * (g.scaledH / h) - g.offY;
}

/** Transform one mask: polygons exactly; RLE by nearest-pixel resampling. */
export function applyToMask(m: InstanceMask, h: number, w: number, g: Geometry): InstanceMask {
  if (m.kind === 'polygons') {
    return { kind: 'polygons', polygons: m.polygons.map((p) => p.map((v, i) => (i % 2 === 0 ? mapX(v, w, g) : mapY(v, h, g)))) };
  }
  const src = rleDecode(m.rle);
  const out = new Uint8Array(g.outH * g.outW);
  const sx = w / g.scaledW;
  const sy = h / g.scaledH;
  for (let x = 0; x < g.outW; x++) {
    let xs = Math.min(w - 1, Math.floor((x + g.offX + 0.5) * sx));
    if (g.flip) xs = w - 1 - xs;
    for (let y = 0; y < g.outH; y++) {
      const ys = Math.min(h - 1, Math.floor((y + g.offY + 0.5) * sy));
      out[x * g.outH + y] = src[xs * h + ys]!;
    }
  }
  return { kind: 'rle', rle: rleEncode(out, g.outH, g.outW) };
}

/**
 * Transform annotated objects; boxes are recomputed from the transformed
 * masks when there are masks (detectron2's recompute_boxes), else the
 * transformed box is clipped. Objects left empty by the crop are dropped.
 */
export function applyToObjects(objects: ObjectRecord[], h: number, w: number, g: Geometry): GtInstances {
  const boxes: number[] = [];
  const classes: number[] = [];
  const masks: InstanceMask[] = [];
  const withMasks = objects.length > 0 && objects.every((o) => o.mask);
  for (const o of objects) {
    let box: [number, number, number, number];
    let mask: InstanceMask | undefined;
    if (withMasks) {
      mask = applyToMask(o.mask!, h, w, g);
      box = maskBox(mask, g.outH, g.outW);
    } else {
      const xa = mapX(o.box[0], w, g);
      const xb = mapX(o.box[2], w, g);
      box = [Math.min(xa, xb), mapY(o.box[1], h, g), Math.max(xa, xb), mapY(o.box[3], h, g)];
    }
    const x1 = Math.min(Math.max(box[0], 0), g.outW);
    const y1 = Math.min(Math.max(box[1], 0), g.outH);
    const x2 = Math.min(Math.max(box[2], 0), g.outW);
    const y2 = Math.min(Math.max(box[3], 0), g.outH);
    if (!(x2 - x1 > 1e-5 && y2 - y1 > 1e-5)) continue;
    boxes.push(x1, y1, x2, y2);
    classes.push(o.classIndex);
    if (mask) masks.push(mask);
  }
  const gt: GtInstances = { boxes: Float32Array.from(boxes), classes: Int32Array.from(classes) };
  if (withMasks) gt.masks = masks;
  return gt;
}

/** Tight XYXY box of a mask (polygon extents clipped to the frame, or the RLE's box). */
function maskBox(m: InstanceMask, h: number, w: number): [number, number, number, number] {
  if (m.kind === 'rle') {
    const [x, y, bw, bh] = rleToBbox(m.rle);
    return bw === 0 || bh === 0 ? [0, 0, 0, 0] : [x, y, x + bw, y + bh];
  }
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const p of m.polygons)
    for (let i = 0; i < p.length; i += 2) {
      x1 = Math.min(x1, p[i]!);
      x2 = Math.max(x2, p[i]!);
      y1 = Math.min(y1, p[i + 1]!);
      y2 = Math.max(y2, p[i + 1]!);
    }
  return [Math.max(x1, 0), Math.max(y1, 0), Math.min(x2, w), Math.min(y2, h)];
}
