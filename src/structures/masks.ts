import { rleDecode, rleFrPoly, rleFrString, rleMerge, type Rle } from '@densekit/eval';
import { roiAxisWeights } from '../engine/ops/roi-align.js';

/**
 * An instance mask as annotations carry it: polygons (possibly several
 * parts) or an RLE, in image coordinates of an image of size (h, w).
 */
export type InstanceMask = { kind: 'polygons'; polygons: number[][] } | { kind: 'rle'; rle: Rle };

/** Full-image RLE of an instance mask (polygon parts rasterised as pycocotools, then unioned). */
export function maskToRle(m: InstanceMask, h: number, w: number): Rle {
  if (m.kind === 'rle') return m.rle;
  return rleMerge(
    m.polygons.map((p) => rleFrPoly(p, h, w)),
    false,
  );
}

/** Row-major binary mask (h*w) of an instance mask. */
export function maskToBitmap(m: InstanceMask, h: number, w: number): Uint8Array {
  const col = rleDecode(maskToRle(m, h, w));
  const out = new Uint8Array(h * w);
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) out[y * w + x] = col[x * h + y]!;
  return out;
}

export function rleFromCompressed(size: [number, number], counts: string | number[]): Rle {
  return typeof counts === 'string' ? rleFrString(counts, size[0], size[1]) : { h: size[0], w: size[1], counts: Uint32Array.from(counts) };
}

/** Apply an affine map x' = x*sx + tx, y' = y*sy + ty (and optional horizontal flip within width `flipW`) to polygons. */
export function transformPolygons(polys: number[][], sx: number, sy: number, tx: number, ty: number): number[][] {
  return polys.map((p) => p.map((v, i) => (i % 2 === 0 ? v * sx + tx : v * sy + ty)));
}

/**
 * The training target of a mask head: the GT mask inside `box` (x1,y1,x2,y2)
 * resampled to size x size, binarised at 0.5 — as detectron2: polygons are
 * moved into the box frame and rasterised there; bitmaps are ROIAligned.
 * Returns size*size values (row-major).
 */
export function cropAndResizeMask(m: InstanceMask, box: ArrayLike<number>, size: number, imgH: number, imgW: number): Float32Array {
  const [x1, y1, x2, y2] = [box[0]!, box[1]!, box[2]!, box[3]!];
  const bw = Math.max(x2 - x1, 0.1);
  const bh = Math.max(y2 - y1, 0.1);
  const out = new Float32Array(size * size);
  if (m.kind === 'polygons') {
    const polys = transformPolygons(m.polygons, size / bw, size / bh, (-x1 * size) / bw, (-y1 * size) / bh);
    const col = rleDecode(rleMerge(polys.map((p) => rleFrPoly(p, size, size)), false));
    for (let x = 0; x < size; x++) for (let y = 0; y < size; y++) out[y * size + x] = col[x * size + y]!;
    return out;
  }
  // Bitmap: ROIAlign (aligned, 0.5-pixel shift) of the binary mask, then threshold.
  // Separable: resample the touched rows first (M x wc), then the columns.
  const full = rleDecode(m.rle); // column-major
  const opts = { outputSize: size, spatialScale: 1, samplingRatio: 0, aligned: true };
  const ys = roiAxisWeights(y1 - 0.5, y2 - 0.5, imgH, opts);
  const xs = roiAxisWeights(x1 - 0.5, x2 - 0.5, imgW, opts);
  const hc = ys.hi - ys.lo;
  const wc = xs.hi - xs.lo;
  if (hc <= 0 || wc <= 0) return out;
  const rows = new Float32Array(size * wc); // rows[py][c]
  for (let c = 0; c < wc; c++) {
    const colBase = (xs.lo + c) * imgH + ys.lo;
    for (let py = 0; py < size; py++) {
      let v = 0;
      for (let r = 0; r < hc; r++) v += ys.weights[py * hc + r]! * full[colBase + r]!;
      rows[py * wc + c] = v;
    }
  }
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let v = 0;
      for (let c = 0; c < wc; c++) v += xs.weights[px * wc + c]! * rows[py * wc + c]!;
      out[py * size + px] = v >= 0.5 ? 1 : 0;
    }
  }
  return out;
}
