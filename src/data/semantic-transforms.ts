import { reduceZeroLabel } from '@densekit/eval';
import type { Rng } from '../engine/random.js';
import type { HostImage } from '../io/rgb-image.js';

/** An image with its label map (row-major class ids, 255 = ignore), same size. */
export interface SemanticSample {
  image: HostImage;
  labels: Uint8Array;
}

/** mmseg's label reduction on a raw label map. */
export function reduceLabels(raw: Uint8Array): Uint8Array {
  return raw.map(reduceZeroLabel);
}

/** Bilinear RGB / nearest label resize on the host. */
export function resizeSample(s: SemanticSample, h: number, w: number): SemanticSample {
  const { width: W, height: H } = s.image;
  if (h === H && w === W) return s;
  const rgb = new Uint8Array(h * w * 3);
  const lab = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(Math.max((y + 0.5) * (H / h) - 0.5, 0), H - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, H - 1);
    const fy = sy - y0;
    const ny = Math.min(H - 1, Math.floor((y + 0.5) * (H / h)));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(Math.max((x + 0.5) * (W / w) - 0.5, 0), W - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, W - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const v =
          (1 - fy) * ((1 - fx) * s.image.data[(y0 * W + x0) * 3 + c]! + fx * s.image.data[(y0 * W + x1) * 3 + c]!) +
          fy * ((1 - fx) * s.image.data[(y1 * W + x0) * 3 + c]! + fx * s.image.data[(y1 * W + x1) * 3 + c]!);
        rgb[(y * w + x) * 3 + c] = Math.round(v);
      }
      lab[y * w + x] = s.labels[ny * W + Math.min(W - 1, Math.floor((x + 0.5) * (W / w)))]!;
    }
  }
  return { image: { data: rgb, width: w, height: h }, labels: lab };
}

function crop(s: SemanticSample, y0: number, x0: number, h: number, w: number): SemanticSample {
  const W = s.image.width;
  const rgb = new Uint8Array(h * w * 3);
  const lab = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    rgb.set(s.image.data.subarray(((y0 + y) * W + x0) * 3, ((y0 + y) * W + x0 + w) * 3), y * w * 3);
    lab.set(s.labels.subarray((y0 + y) * W + x0, (y0 + y) * W + x0 + w), y * w);
  }
  return { image: { data: rgb, width: w, height: h }, labels: lab };
}

export interface SemanticAugment {
  cropSize: number;
  minScale: number;
  maxScale: number;
  flipProb: number;
  /** Re-draw a crop (up to 10 times) while one class covers more than this fraction. */
  catMaxRatio: number;
  photometric: boolean;
}

/**
 * mmseg's training pipeline for ADE20K: random rescale (ratio of the crop
 * size, aspect kept), random crop with cat_max_ratio, horizontal flip,
 * photometric distortion (brightness, contrast, saturation, hue).
 * Padding to the crop size happens at batching (image 0, label 255).
 */
export function augmentSemantic(s: SemanticSample, o: SemanticAugment, rng: Rng): SemanticSample {
  const { width: W, height: H } = s.image;
  const ratio = rng.range(o.minScale, o.maxScale);
  const scale = (o.cropSize * ratio) / Math.min(H, W);
  let out = resizeSample(s, Math.max(1, Math.round(H * scale)), Math.max(1, Math.round(W * scale)));
  const ch = Math.min(o.cropSize, out.image.height);
  const cw = Math.min(o.cropSize, out.image.width);
  let best = out;
  for (let attempt = 0; attempt < 10; attempt++) {
    const y0 = rng.int(out.image.height - ch + 1);
    const x0 = rng.int(out.image.width - cw + 1);
    const c = crop(out, y0, x0, ch, cw);
    best = c;
    const counts = new Map<number, number>();
    for (const v of c.labels) if (v !== 255) counts.set(v, (counts.get(v) ?? 0) + 1);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    if (counts.size > 1 && Math.max(...counts.values()) / total < o.catMaxRatio) break;
  }
  out = best;
  if (rng.uniform() < o.flipProb) {
    const { width: w, height: h } = out.image;
    const rgb = new Uint8Array(out.image.data.length);
    const lab = new Uint8Array(out.labels.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const src = y * w + (w - 1 - x);
        rgb.set(out.image.data.subarray(src * 3, src * 3 + 3), (y * w + x) * 3);
        lab[y * w + x] = out.labels[src]!;
      }
    out = { image: { data: rgb, width: w, height: h }, labels: lab };
  }
  if (o.photometric) out = { ...out, image: photometric(out.image, rng) };
  return out;
}

/** mmseg's PhotoMetricDistortion (each step with probability 0.5). */
function photometric(img: HostImage, rng: Rng): HostImage {
  const d = Float32Array.from(img.data);
  const brightness = rng.uniform() < 0.5 ? rng.range(-32, 32) : 0;
  const contrast = rng.uniform() < 0.5 ? rng.range(0.5, 1.5) : 1;
  const saturation = rng.uniform() < 0.5 ? rng.range(0.5, 1.5) : 1;
  const hue = rng.uniform() < 0.5 ? rng.range(-18, 18) : 0;
  for (let i = 0; i < d.length; i += 3) {
    let [r, g, b] = [d[i]! + brightness, d[i + 1]! + brightness, d[i + 2]! + brightness].map((v) => (v - 128) * contrast + 128) as [number, number, number];
    if (saturation !== 1 || hue !== 0) {
      const gray = 0.299 * r + 0.587 * g + 0.114 * b;
      [r, g, b] = [r, g, b].map((v) => gray + (v - gray) * saturation) as [number, number, number];
      if (hue !== 0) {
        // Rotate the chroma in YIQ space by the hue angle.
        const a = (hue * Math.PI) / 180;
        const yv = 0.299 * r + 0.587 * g + 0.114 * b;
        const iv = 0.596 * r - 0.274 * g - 0.322 * b;
        const qv = 0.211 * r - 0.523 * g + 0.312 * b;
        const i2 = iv * Math.cos(a) - qv * Math.sin(a);
        const q2 = iv * Math.sin(a) + qv * Math.cos(a);
        [r, g, b] = [yv + 0.956 * i2 + 0.621 * q2, yv - 0.272 * i2 - 0.647 * q2, yv - 1.106 * i2 + 1.703 * q2];
      }
    }
    d[i] = r;
    d[i + 1] = g;
    d[i + 2] = b;
  }
  return { data: Uint8Array.from(d, (v) => Math.max(0, Math.min(255, Math.round(v)))), width: img.width, height: img.height };
}
