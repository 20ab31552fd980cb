import { numBoxes, type BoxArray } from '../structures/boxes.js';

/**
 * detectron2's DefaultAnchorGenerator: per level one size, several aspect
 * ratios (h/w); cell anchors centred on 0, shifted over the grid with offset
 * 0. Anchors are ordered (y, x, anchor) — the order of the RPN head's outputs.
 */
export function cellAnchors(sizes: number | readonly number[], ratios: readonly number[]): Float32Array {
  const list = typeof sizes === 'number' ? [sizes] : sizes;
  const out = new Float32Array(list.length * ratios.length * 4);
  let o = 0;
  // detectron2 orders cell anchors size-major, then aspect ratio.
  for (const size of list) {
    for (const r of ratios) {
      const area = size * size;
      const w = Math.sqrt(area / r);
      const h = r * w;
      out.set([-w / 2, -h / 2, w / 2, h / 2], o);
      o += 4;
    }
  }
  return out;
}

/** All anchors of one level for a (gh, gw) grid at `stride`: [gh*gw*A, 4]. */
export function gridAnchors(cell: Float32Array, gh: number, gw: number, stride: number, offset = 0): BoxArray {
  const a = numBoxes(cell);
  const out = new Float32Array(gh * gw * a * 4);
  let o = 0;
  for (let y = 0; y < gh; y++) {
    const sy = (y + offset) * stride;
    for (let x = 0; x < gw; x++) {
      const sx = (x + offset) * stride;
      for (let k = 0; k < a; k++) {
        out[o++] = cell[k * 4]! + sx;
        out[o++] = cell[k * 4 + 1]! + sy;
        out[o++] = cell[k * 4 + 2]! + sx;
        out[o++] = cell[k * 4 + 3]! + sy;
      }
    }
  }
  return out;
}
