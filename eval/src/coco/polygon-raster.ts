/**
 * pycocotools' polygon rasterisation (maskApi.c rleFrPoly), to the bit.
 *
 * Vertices are upsampled by 5 and rounded; each edge is walked densely
 * along its major axis; every step where the upsampled x changes yields a
 * column-boundary point, kept when it falls on a pixel-centre column and
 * mapped back to the pixel grid; the sorted points become the runs. Here
 * the dense walk is never made: along an x-major edge only the steps that
 * can land on a centre column (every 5th) are evaluated, and along a
 * y-major edge the steps where x changes are found by search.
 */

/** Reusable buffers for `rasterizePolygon` (it grows them as needed). */
export interface RasterScratch {
  /** Boundary points (column-major pixel indices) and their columns. */
  points: Uint32Array;
  columns: Int32Array;
  /** Per column: where its points start, and the next free place, in `sorted`. */
  columnStart: Int32Array;
  columnFill: Int32Array;
  sorted: Uint32Array;
}

export function rasterScratch(): RasterScratch {
  return {
    points: new Uint32Array(1024),
    columns: new Int32Array(1024),
    columnStart: new Int32Array(1024),
    columnFill: new Int32Array(1024),
    sorted: new Uint32Array(1024),
  };
}

const INT_MIN = -2147483648;

/** C's (int) conversion of a double as x86 performs it (NaN / overflow -> INT_MIN). */
function cInt(v: number): number {
  return v > -2147483649 && v < 2147483648 ? Math.trunc(v) : INT_MIN;
}

/** The RLE counts of polygon [x0,y0,x1,y1,...] in an h x w image (column-major, starting with a background run). */
export function rasterizePolygon(xy: ArrayLike<number>, h: number, w: number, scratch: RasterScratch): Uint32Array {
  let np = 0;
  let minCol = w;
  let maxCol = -1;
  // The boundary point of a step whose smaller upsampled x is xPrime and
  // smaller upsampled y is vMin, kept when it lands on a pixel-centre column.
  const add = (xPrime: number, vMin: number): void => {
    const xd = (xPrime + 0.5) / 5 - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) return;
    let yd = (vMin + 0.5) / 5 - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    if (np >= scratch.points.length) {
      const points = new Uint32Array(scratch.points.length * 2);
      points.set(scratch.points);
      scratch.points = points;
      const columns = new Int32Array(points.length);
      columns.set(scratch.columns);
      scratch.columns = columns;
    }
    if (xd < minCol) minCol = xd;
    if (xd > maxCol) maxCol = xd;
    scratch.columns[np] = xd;
    scratch.points[np++] = (xd * h + yd) >>> 0;
  };
  // The previous dense point, compared with the first one of the next edge.
  let first = true;
  let prevU = 0;
  let prevV = 0;
  const step = (u: number, v: number): void => {
    if (!first && u !== prevU) add(u < prevU ? u : u - 1, v < prevV ? v : prevV);
    first = false;
    prevU = u;
    prevV = v;
  };

  const k = Math.floor(xy.length / 2);
  for (let j = 0; j < k; j++) {
    const j1 = (j + 1) % k;
    let xs = cInt(5 * xy[2 * j]! + 0.5);
    let xe = cInt(5 * xy[2 * j1]! + 0.5);
    let ys = cInt(5 * xy[2 * j + 1]! + 0.5);
    let ye = cInt(5 * xy[2 * j1 + 1]! + 0.5);
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs;
      xs = xe;
      xe = t;
      t = ys;
      ys = ye;
      ye = t;
    }
    if (dx >= dy) {
      // u = xs + t moves by one per step; v(t) = (int)(ys + s*t + .5).
      // dx = dy = 0 (a repeated vertex) makes s NaN, and C's (int)NaN is INT_MIN.
      const s = (ye - ys) / dx;
      const tFirst = flip ? dx : 0;
      const tLast = flip ? 0 : dx;
      step(xs + tFirst, dx === 0 ? INT_MIN : cInt(ys + s * tFirst + 0.5));
      // Within the edge, the step between t-1 and t has x' = xs + t - 1 (the
      // smaller u); only x' = 2 (mod 5) lands on a pixel-centre column.
      if (dx > 0) {
        for (let t = 1 + ((((2 - xs) % 5) + 5) % 5); t <= dx; t += 5) {
          const v0 = cInt(ys + s * (t - 1) + 0.5);
          const v1 = cInt(ys + s * t + 0.5);
          add(xs + t - 1, v0 < v1 ? v0 : v1);
        }
      }
      prevU = xs + tLast;
      prevV = dx === 0 ? INT_MIN : cInt(ys + s * tLast + 0.5);
    } else {
      // v = ys + t moves by one per step; u(t) = (int)(xs + s*t + .5) is
      // monotone in t and moves by at most one per step, so its changes are
      // found by search. A change between t-1 and t yields x' = the smaller
      // u and y' = ys + t - 1 whichever way the edge is walked.
      const s = (xe - xs) / dy;
      const tFirst = flip ? dy : 0;
      const tLast = flip ? 0 : dy;
      step(cInt(xs + s * tFirst + 0.5), ys + tFirst);
      const u0 = cInt(xs + 0.5);
      const u1 = cInt(xs + s * dy + 0.5);
      if (u0 !== u1) {
        const rising = u1 > u0;
        const lo = rising ? u0 : u1;
        const hi = rising ? u1 : u0;
        // Each x' in [lo, hi) is crossed once: between t-1 and t where t is
        // the first step with u >= x'+1 (rising) or u <= x' (falling). Start
        // from the real-valued crossing and correct it by exact steps.
        for (let xp = lo + ((((2 - lo) % 5) + 5) % 5); xp < hi; xp += 5) {
          let t = Math.ceil((xp + 0.5 - xs) / s);
          if (!(t >= 1)) t = 1;
          else if (t > dy) t = dy;
          if (rising) {
            while (t > 1 && cInt(xs + s * (t - 1) + 0.5) > xp) t--;
            while (cInt(xs + s * t + 0.5) <= xp) t++;
          } else {
            while (t > 1 && cInt(xs + s * (t - 1) + 0.5) <= xp) t--;
            while (cInt(xs + s * t + 0.5) > xp) t++;
          }
          add(xp, ys + t - 1);
        }
      }
      prevU = cInt(xs + s * tLast + 0.5);
      prevV = ys + tLast;
    }
  }

  // Sort the points: by column (a counting sort; a polygon crosses each
  // column only a few times), then by row within a column (insertion).
  if (scratch.sorted.length < np + 1) scratch.sorted = new Uint32Array(Math.max(np + 1, scratch.sorted.length * 2));
  const a = scratch.sorted;
  if (np > 0) {
    const range = maxCol - minCol + 1;
    if (scratch.columnStart.length < range + 1) {
      scratch.columnStart = new Int32Array(Math.max(range + 1, scratch.columnStart.length * 2));
      scratch.columnFill = new Int32Array(scratch.columnStart.length);
    }
    const start = scratch.columnStart;
    const fill = scratch.columnFill;
    const points = scratch.points;
    const columns = scratch.columns;
    start.fill(0, 0, range + 1);
    for (let i = 0; i < np; i++) start[columns[i]! - minCol + 1]!++;
    for (let c = 0; c < range; c++) start[c + 1]! += start[c]!;
    fill.set(start.subarray(0, range));
    for (let i = 0; i < np; i++) {
      const key = points[i]!;
      const c = columns[i]! - minCol;
      const lo = start[c]!;
      let q = fill[c]!++;
      while (q > lo && a[q - 1]! > key) {
        a[q] = a[q - 1]!;
        q--;
      }
      a[q] = key;
    }
  }
  // Points to run lengths, the image end closing the last run.
  a[np] = (h * w) >>> 0;
  const n = np + 1;
  let p = 0;
  for (let j = 0; j < n; j++) {
    const t = a[j]!;
    a[j] = (t - p) >>> 0;
    p = t;
  }
  // Merge zero-length runs into their neighbours (in place: the write index never passes the read index).
  let j = 0;
  let mb = 0;
  a[mb++] = a[j++]!;
  while (j < n) {
    if (a[j]! > 0) a[mb++] = a[j++]!;
    else {
      j++;
      if (j < n) a[mb - 1] = (a[mb - 1]! + a[j++]!) >>> 0;
    }
  }
  return a.slice(0, mb);
}
