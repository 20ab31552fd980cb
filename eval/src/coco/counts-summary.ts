/**
 * What loading a mask result needs from its runs — their total, the
 * foreground area and the tight box — computed count by count as the runs
 * are decoded, so 10^5 results are summarised without materialising one
 * counts array.
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

/**
 * Runs of a compressed counts string fed delta by delta (as its decoder
 * reads them), giving the same total, area and box as decoding the string
 * and calling rleArea and rleToBbox. It keeps the column and row of the
 * running position, so a run costs a division only when it crosses columns.
 */
export class CountsSummary {
  total = 0;
  area = 0;
  private m = 0;
  private prev1 = 0;
  private prev2 = 0;
  private col = 0;
  private row = 0;
  private readonly box: RunBox;

  constructor(private readonly h: number, w: number) {
    this.box = new RunBox(h, w);
  }

  /** The next decoded value: counts from the fourth on are deltas from the count two before (maskApi.c). */
  pushDelta(x: number): void {
    if (this.m > 2) x += this.prev2;
    const count = x >>> 0;
    this.prev2 = this.prev1;
    this.prev1 = count;
    if (count === 0) {
      this.m++;
      return;
    }
    const h = this.h;
    const col = this.col;
    const row = this.row;
    let endRow = row + count;
    let endCol = col;
    if (endRow >= h) {
      // Most runs end in the next column; a float modulo would be a runtime call.
      if (endRow < 2 * h) {
        endCol++;
        endRow -= h;
      } else {
        const q = Math.floor(endRow / h);
        endCol += q;
        endRow -= q * h;
      }
    }
    if (this.m & 1) {
      this.area += count;
      // The last pixel of the run is one before the end position.
      if (endRow > 0) this.box.addCells(col, row, endCol, endRow - 1);
      else this.box.addCells(col, row, endCol - 1, h - 1);
    }
    this.total += count;
    this.col = endCol;
    this.row = endRow;
    this.m++;
  }

  /** The summary; rleToBbox drops a trailing zeros run, so only a single run (no foreground) is special. */
  result(): RleStringSummary {
    return { total: this.total, area: this.area, bbox: this.m < 2 ? [0, 0, 0, 0] : this.box.box() };
  }
}
