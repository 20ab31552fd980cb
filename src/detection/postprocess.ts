import { rleEncode, rleToString, type CocoResult, type Rle } from '@densekit/eval';
import type { Detections } from '../structures/instances.js';

/**
 * Paste an M x M mask probability map into an image of size (h, w) inside
 * `box` (x1, y1, x2, y2), as detectron2's paste_masks_in_image: each pixel
 * centre maps to ((x + 0.5 - x1) / (x2 - x1)) * M - 0.5 in the mask, sampled
 * bilinearly with zeros outside; pixels >= threshold are foreground.
 * Returns a column-major RLE of the whole image.
 */
export function pasteMask(probs: Float32Array, m: number, box: ArrayLike<number>, h: number, w: number, threshold: number): Rle {
  const [x1, y1, x2, y2] = [box[0]!, box[1]!, box[2]!, box[3]!];
  const col = new Uint8Array(h * w);
  const bw = Math.max(x2 - x1, 1e-6);
  const bh = Math.max(y2 - y1, 1e-6);
  const xs = Math.max(Math.floor(x1) - 1, 0);
  const xe = Math.min(Math.ceil(x2) + 1, w);
  const ys = Math.max(Math.floor(y1) - 1, 0);
  const ye = Math.min(Math.ceil(y2) + 1, h);
  const sample = (r: number, c: number) => (r >= 0 && r < m && c >= 0 && c < m ? probs[r * m + c]! : 0);
  for (let x = xs; x < xe; x++) {
    const u = ((x + 0.5 - x1) / bw) * m - 0.5;
    const c0 = Math.floor(u);
    const fu = u - c0;
    for (let y = ys; y < ye; y++) {
      const v = ((y + 0.5 - y1) / bh) * m - 0.5;
      const r0 = Math.floor(v);
      const fv = v - r0;
      const p = (1 - fv) * ((1 - fu) * sample(r0, c0) + fu * sample(r0, c0 + 1)) + fv * ((1 - fu) * sample(r0 + 1, c0) + fu * sample(r0 + 1, c0 + 1));
      if (p >= threshold) col[x * h + y] = 1;
    }
  }
  return rleEncode(col, h, w);
}

/** EVA's "maskness": the mean probability of the mask's foreground pixels (0 when empty). */
export function maskness(probs: Float32Array, threshold = 0.5): number {
  let s = 0;
  let n = 0;
  for (const p of probs) {
    if (p > threshold) {
      s += p;
      n++;
    }
  }
  return n === 0 ? 0 : s / n;
}

/** A detection as a COCO results entry (eval's `CocoResult`), whose box a detector always gives. */
export type CocoDetection = CocoResult & { bbox: [number, number, number, number] };

export interface ToCocoOptions {
  imageId: number;
  /** Size of the image the detector saw (after resizing), and of the original file. */
  inputSize: [number, number];
  originalSize: [number, number];
  /** Contiguous class index → dataset category id. */
  categoryIds: readonly number[];
  maskThreshold: number;
  masknessRescore: boolean;
}

/**
 * Detections (input frame) → COCO results in the original image: boxes
 * rescaled and clipped, masks pasted at full resolution and RLE-encoded.
 */
export function toCocoResults(d: Detections, o: ToCocoOptions): CocoDetection[] {
  const [ih, iw] = o.inputSize;
  const [oh, ow] = o.originalSize;
  const sx = ow / iw;
  const sy = oh / ih;
  const out: CocoDetection[] = [];
  const m = d.maskProbs?.[0] ? Math.round(Math.sqrt(d.maskProbs[0].length)) : 0;
  for (let i = 0; i < d.scores.length; i++) {
    const x1 = Math.min(Math.max(d.boxes[i * 4]! * sx, 0), ow);
    const y1 = Math.min(Math.max(d.boxes[i * 4 + 1]! * sy, 0), oh);
    const x2 = Math.min(Math.max(d.boxes[i * 4 + 2]! * sx, 0), ow);
    const y2 = Math.min(Math.max(d.boxes[i * 4 + 3]! * sy, 0), oh);
    let score = d.scores[i]!;
    const det: CocoDetection = { image_id: o.imageId, category_id: o.categoryIds[d.classes[i]!]!, bbox: [x1, y1, x2 - x1, y2 - y1], score };
    const probs = d.maskProbs?.[i];
    if (probs) {
      if (o.masknessRescore) det.score = score = score * maskness(probs, o.maskThreshold);
      const rle = pasteMask(probs, m, [x1, y1, x2, y2], oh, ow, o.maskThreshold);
      det.segmentation = { size: [oh, ow], counts: rleToString(rle) };
    }
    out.push(det);
  }
  if (o.masknessRescore) out.sort((a, b) => b.score - a.score);
  return out;
}
