/**
 * The tight box of a mask's foreground runs (pycocotools' rleToBbox), and
 * the summary of a mask that loading a result needs.
 */

/** [x, y, width, height] */
export type Bbox = [number, number, number, number];

/** What loading a result needs from a compressed RLE, without materialising its counts. */
export interface RleStringSummary {
  /** Sum of all runs (must equal h * w for a well-formed mask). */
  total: number;
  /** Foreground pixel count, as rleArea. */
  area: number;
  /** Tight foreground box, as rleToBbox. */
  bbox: Bbox;
}

/**
 * The tight box of foreground runs fed to it one by one: a run crossing a
 * column boundary spans the full height (pycocotools' rleToBbox after its
 * 2021 fix). Empty runs must not be fed.
 */
export class RunBox {
  xs: number;
  ys: number;
  xe = 0;
  ye = 0;
  constructor(
    readonly h: number,
    w: number,
  ) {
    this.xs = w;
    this.ys = h;
  }

  /** A run by pixel index (column-major) of its first pixel and one past its last. */
  add(start: number, end: number): void {
    const h = this.h;
    // Floor division, not %: a float modulo is a runtime call.
    const xStart = Math.floor(start / h);
    const xEnd = Math.floor((end - 1) / h);
    this.addCells(xStart, start - xStart * h, xEnd, end - 1 - xEnd * h);
  }

  /** A run by the column and row of its first and last pixels. */
  addCells(xStart: number, yStart: number, xEnd: number, yEnd: number): void {
    if (xStart < this.xs) this.xs = xStart;
    if (xEnd > this.xe) this.xe = xEnd;
    if (xStart < xEnd) {
      this.ys = 0;
      this.ye = this.h - 1;
    } else {
      if (yStart < this.ys) this.ys = yStart;
      if (yEnd > this.ye) this.ye = yEnd;
    }
  }

  /** [x, y, w, h]; unsigned arithmetic as in C: xe - xs + 1 wraps when nothing was added. */
  box(): Bbox {
    return [this.xs, this.ys, (this.xe - this.xs + 1) >>> 0, (this.ye - this.ys + 1) >>> 0];
  }
}
