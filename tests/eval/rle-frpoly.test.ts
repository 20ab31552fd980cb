import { describe, expect, it } from 'vitest';
import { rleFrPoly, rleFrBbox } from '../../eval/src/coco/rle.js';
import { Rng } from '../../src/engine/random.js';

/**
 * A direct, unoptimised transcription of maskApi.c's rleFrPoly (dense point
 * arrays, every step checked). The optimised rasteriser must equal it.
 */
function referenceFrPoly(xy: number[], h: number, w: number): number[] {
  const cInt = (v: number) => (!(v > -2147483649 && v < 2147483648) ? -2147483648 : Math.trunc(v));
  const k = Math.floor(xy.length / 2);
  const x: number[] = [];
  const y: number[] = [];
  for (let j = 0; j < k; j++) x.push(cInt(5 * xy[2 * j]! + 0.5));
  for (let j = 0; j < k; j++) y.push(cInt(5 * xy[2 * j + 1]! + 0.5));
  x.push(x[0]!);
  y.push(y[0]!);
  const u: number[] = [];
  const v: number[] = [];
  for (let j = 0; j < k; j++) {
    let [xs, xe, ys, ye] = [x[j]!, x[j + 1]!, y[j]!, y[j + 1]!];
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) [xs, xe, ys, ye] = [xe, xs, ye, ys];
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy)
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(cInt(ys + s * t + 0.5));
      }
    else
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(cInt(xs + s * t + 0.5));
      }
  }
  const a: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / 5 - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / 5 - 0.5;
    yd = Math.ceil(yd < 0 ? 0 : yd > h ? h : yd);
    a.push((xd * h + yd) >>> 0);
  }
  a.push(h * w);
  a.sort((p, q) => p - q);
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = [a[0]!];
  for (let j = 1; j < a.length; ) {
    if (a[j]! > 0) b.push(a[j++]!);
    else {
      j++;
      if (j < a.length) b[b.length - 1] += a[j++]!;
    }
  }
  return b;
}

describe('rleFrPoly', () => {
  it('equals the direct transcription of maskApi.c on 2000 random polygons (negative, outside, degenerate, fractional)', () => {
    const rng = new Rng(3);
    for (let n = 0; n < 2000; n++) {
      const h = 1 + rng.int(60);
      const w = 1 + rng.int(60);
      const pts = 3 + rng.int(8);
      const xy: number[] = [];
      for (let i = 0; i < pts; i++) {
        xy.push(rng.range(-15, w + 15), rng.range(-15, h + 15));
        if (rng.uniform() < 0.1) xy.push(xy[xy.length - 2]!, xy[xy.length - 1]!); // repeated vertex
      }
      if (rng.uniform() < 0.3) for (let i = 0; i < xy.length; i++) xy[i] = Math.round(xy[i]! * 2) / 2;
      expect(Array.from(rleFrPoly(xy, h, w).counts), `case ${n}`).toEqual(referenceFrPoly(xy, h, w));
    }
  });

  it('equals the transcription on long, steep and shallow edges (300 polygons up to 700 px)', () => {
    const rng = new Rng(11);
    for (let n = 0; n < 300; n++) {
      const h = 1 + rng.int(700);
      const w = 1 + rng.int(700);
      const pts = 3 + rng.int(12);
      const xy: number[] = [];
      for (let i = 0; i < pts; i++) xy.push(rng.range(-40, w + 40), rng.range(-40, h + 40));
      // Near-vertical and near-horizontal edges: dx or dy a few upsampled steps.
      if (rng.uniform() < 0.3) xy.push(xy[xy.length - 2]! + rng.range(-1, 1), xy[xy.length - 1]! + rng.range(-300, 300));
      if (rng.uniform() < 0.3) xy.push(xy[xy.length - 2]! + rng.range(-300, 300), xy[xy.length - 1]! + rng.range(-1, 1));
      expect(Array.from(rleFrPoly(xy, h, w).counts), `case ${n}`).toEqual(referenceFrPoly(xy, h, w));
    }
  });

  it('boxes go through the polygon path', () => {
    expect(Array.from(rleFrBbox([1, 1, 2, 3], 6, 5).counts)).toEqual(referenceFrPoly([1, 1, 1, 4, 3, 4, 3, 1], 6, 5));
  });
});
