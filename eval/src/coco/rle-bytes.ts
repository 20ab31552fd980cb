import type { Rle } from './rle-types.js';

/**
 * Compressed RLE counts read straight from the bytes of a JSON file: the
 * span between the string's quotes, where a backslash — itself a counts
 * character — is written escaped, as two. Reading mask results this way
 * makes no JavaScript string per mask.
 *
 * Unlike the string decoders in rle.ts these report malformed input by
 * returning null / false, not by throwing: their caller then reads the
 * file the general way, which locates and reports the error.
 */

const BACKSLASH = 92;

/** Where `summarizeCountsBytes` writes: total, area, then the box [x, y, w, h]. */
export const enum Summary {
  Total,
  Area,
  Box,
  Length = Box + 4,
}

/**
 * Total, area and box of the counts in bytes[start..end) (as rleFrString
 * then rleArea and rleToBbox would give) written to out[0..6) (see
 * `Summary`), or false when malformed. `jsonEscaped`: a backslash is
 * written as two, as between the quotes of a JSON file. This is the inner loop of loading mask results: decoding and
 * summarising are one loop over locals, writing no object. It keeps the
 * column and row of the running position, so a run costs a division only
 * when it crosses several columns.
 */
export function summarizeCountsBytes(bytes: Uint8Array, start: number, end: number, h: number, w: number, out: Float64Array, jsonEscaped = true): boolean {
  // Int32 positions (callers may pass them as doubles) keep byte indexing on the fast path.
  let p = start | 0;
  end |= 0;
  let m = 0;
  let prev1 = 0;
  let prev2 = 0;
  let total = 0;
  let area = 0;
  let col = 0;
  let row = 0;
  // The box as rleToBbox builds it: first and last foreground columns, and
  // the rows they reach (all rows once a run crosses a column).
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let anyForeground = false;
  while (p < end) {
    let x: number;
    const b0 = bytes[p++]!;
    if (b0 >= 48 && b0 < 80) {
      // One character, no continuation (most counts of a smooth mask).
      x = b0 - 48;
      if (x & 0x10) x -= 32;
    } else {
      x = 0;
      let k = 0;
      let c = 0;
      let b = b0;
      for (;;) {
        if (b === BACKSLASH && jsonEscaped) {
          if (p >= end || bytes[p] !== BACKSLASH) return false;
          p++;
        }
        c = b - 48;
        if (c >>> 6) return false;
        if (k < 6) x |= (c & 0x1f) << (5 * k);
        else x += (c & 0x1f) * 2 ** (5 * k);
        k++;
        if (!(c & 0x20)) break;
        if (p >= end) return false;
        b = bytes[p++]!;
      }
      if (c & 0x10) {
        if (k <= 6) x |= -1 << (5 * k);
        else x -= 2 ** (5 * k);
      }
    }
    if (m > 2) x += prev2;
    const count = x >>> 0;
    prev2 = prev1;
    prev1 = count;
    if (count !== 0) {
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
      if (m & 1) {
        area += count;
        // The run's last pixel is one before the end position.
        let lastCol = endCol;
        let lastRow = endRow - 1;
        if (lastRow < 0) {
          lastCol--;
          lastRow = h - 1;
        }
        if (!anyForeground) {
          xs = col;
          anyForeground = true;
        }
        xe = lastCol;
        if (col < lastCol) {
          ys = 0;
          ye = h - 1;
        } else {
          if (row < ys) ys = row;
          if (lastRow > ye) ye = lastRow;
        }
      }
      total += count;
      col = endCol;
      row = endRow;
    }
    m++;
  }
  out[Summary.Total] = total;
  out[Summary.Area] = area;
  // rleToBbox drops a trailing zeros run, so only a single run (no foreground) is special;
  // unsigned arithmetic as in C: xe - xs + 1 wraps when nothing was added.
  const none = m < 2;
  out[Summary.Box] = none ? 0 : xs;
  out[Summary.Box + 1] = none ? 0 : ys;
  out[Summary.Box + 2] = none ? 0 : (xe - xs + 1) >>> 0;
  out[Summary.Box + 3] = none ? 0 : (ye - ys + 1) >>> 0;
  return true;
}

/**
 * Decode the counts in bytes[start..end) — well-formed, as checked when the
 * file was read — into out[at..]; returns how many. A count takes at least
 * one character, so `out` needs room for end - start. The decoding is
 * summarizeCountsBytes' written out again: with a shared per-value
 * function (results in module slots) decoding the benchmark's detection
 * masks took about 130 ms in a profile, against about 80 ms inline.
 */
export function decodeCountsBytes(bytes: Uint8Array, start: number, end: number, out: Uint32Array, at: number): number {
  let p = start | 0;
  end |= 0;
  let m = 0;
  while (p < end) {
    let x: number;
    const b0 = bytes[p++]!;
    if (b0 >= 48 && b0 < 80) {
      x = b0 - 48;
      if (x & 0x10) x -= 32;
    } else {
      x = 0;
      let k = 0;
      let c = 0;
      let b = b0;
      for (;;) {
        if (b === BACKSLASH) p++;
        c = b - 48;
        if (k < 6) x |= (c & 0x1f) << (5 * k);
        else x += (c & 0x1f) * 2 ** (5 * k);
        k++;
        if (!(c & 0x20)) break;
        b = bytes[p++]!;
      }
      if (c & 0x10) {
        if (k <= 6) x |= -1 << (5 * k);
        else x -= 2 ** (5 * k);
      }
    }
    if (m > 2) x += out[at + m - 2]!;
    out[at + m++] = x >>> 0;
  }
  return m;
}

/**
 * Counts decoded for a moment: evaluation compares 10^4–10^5 detection
 * masks, each within one (image, category) cell, so their runs go into one
 * reused buffer instead of an allocation each.
 */
export class CountsArena {
  private buf = new Uint32Array(1 << 16);
  private used = 0;

  /** Forget what was decoded (views handed out before must no longer be used). */
  reset(): void {
    this.used = 0;
  }

  /** Decode a file-backed mask here; its counts are a view into the arena. */
  decode(rle: BytesRle): Rle {
    const bound = rle.end - rle.start;
    if (this.used + bound > this.buf.length) {
      // Views already handed out keep the old buffer alive; nothing is copied.
      this.buf = new Uint32Array(Math.max(bound, this.buf.length * 2));
      this.used = 0;
    }
    const at = this.used;
    const m = decodeCountsBytes(rle.bytes, rle.start, rle.end, this.buf, at);
    this.used += m;
    return { h: rle.h, w: rle.w, counts: this.buf.subarray(at, at + m) };
  }
}

/** The counts as the string JSON.parse would have made (a backslash pair is one backslash). */
export function countsStringOfBytes(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  let from = start;
  // Counts are ASCII; only the escaped backslash pairs need changing.
  for (let p = start; p < end; p++) {
    if (bytes[p] !== BACKSLASH) continue;
    s += ascii(bytes, from, p + 1);
    p++;
    from = p + 1;
  }
  return s + ascii(bytes, from, end);
}

const ASCII = new TextDecoder();

/** Validated counts bytes are ASCII, which UTF-8 decodes as itself. */
function ascii(bytes: Uint8Array, start: number, end: number): string {
  return ASCII.decode(bytes.subarray(start, end));
}

/**
 * A result's compressed RLE whose counts are still in the results file's
 * bytes (see results-scanner.ts). It reads like the `{size, counts}` object
 * JSON.parse would give — `counts` makes the string when asked — while
 * evaluation decodes the runs from the bytes.
 */
export class BytesRle {
  constructor(
    readonly bytes: Uint8Array,
    readonly start: number,
    readonly end: number,
    readonly h: number,
    readonly w: number,
  ) {}

  get size(): [number, number] {
    return [this.h, this.w];
  }

  get counts(): string {
    return countsStringOfBytes(this.bytes, this.start, this.end);
  }

  toRle(): Rle {
    const counts = new Uint32Array(this.end - this.start);
    const m = decodeCountsBytes(this.bytes, this.start, this.end, counts, 0);
    return { h: this.h, w: this.w, counts: counts.slice(0, m) };
  }

  toJSON(): { size: [number, number]; counts: string } {
    return { size: this.size, counts: this.counts };
  }
}
