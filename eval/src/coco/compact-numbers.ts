/**
 * A growable list of numbers in the smallest typed array that holds every
 * one of them exactly: bytes, 16-bit or 32-bit integers, float32, decimals
 * with 1–3 places as scaled 32-bit integers (COCO's polygon coordinates,
 * `239.97`), or float64. It starts as bytes and moves up when a value does
 * not fit; `get` always returns the very double that was pushed (-0 included).
 *
 * A decimal d with k places is kept as m = round(d * 10^k) when m / 10^k is
 * d again: that division is correctly rounded, so it gives back the same
 * double whenever it gave it once.
 */

export const enum NumKind {
  U8,
  U16,
  I32,
  F32,
  D1,
  D2,
  D3,
  F64,
}

type Store = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array;

const SCALE = [1, 1, 1, 1, 10, 100, 1000, 1];
/** The kinds tried, in order, when a value does not fit. */
const ORDER = [NumKind.U8, NumKind.U16, NumKind.I32, NumKind.F32, NumKind.D1, NumKind.D2, NumKind.D3, NumKind.F64];

function isNegZero(v: number): boolean {
  return v === 0 && 1 / v < 0;
}

/** Whether `v` is kept exactly by `kind`. */
export function fits(kind: NumKind, v: number): boolean {
  switch (kind) {
    case NumKind.U8:
      return (v & 255) === v && !isNegZero(v);
    case NumKind.U16:
      return (v & 65535) === v && !isNegZero(v);
    case NumKind.I32:
      return (v | 0) === v && !isNegZero(v);
    case NumKind.F32:
      return Math.fround(v) === v;
    case NumKind.D1:
    case NumKind.D2:
    case NumKind.D3: {
      const s = SCALE[kind]!;
      const m = Math.round(v * s);
      return m / s === v && (m | 0) === m && !isNegZero(v);
    }
    default:
      return true;
  }
}

function storeFor(kind: NumKind, n: number): Store {
  switch (kind) {
    case NumKind.U8:
      return new Uint8Array(n);
    case NumKind.U16:
      return new Uint16Array(n);
    case NumKind.F32:
      return new Float32Array(n);
    case NumKind.F64:
      return new Float64Array(n);
    default:
      return new Int32Array(n);
  }
}

export class CompactNumbers {
  private kind: NumKind = NumKind.U8;
  private data: Store;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Uint8Array(Math.max(16, capacity));
  }

  push(v: number): void {
    const n = this.length;
    if (n === this.data.length) this.grow(n + 1);
    // One branch per kind keeps each store site monomorphic.
    switch (this.kind) {
      case NumKind.U8:
        if ((v & 255) === v && (v !== 0 || 1 / v > 0)) {
          (this.data as Uint8Array)[n] = v;
          this.length = n + 1;
          return;
        }
        break;
      case NumKind.U16:
        if ((v & 65535) === v && (v !== 0 || 1 / v > 0)) {
          (this.data as Uint16Array)[n] = v;
          this.length = n + 1;
          return;
        }
        break;
      case NumKind.I32:
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          (this.data as Int32Array)[n] = v;
          this.length = n + 1;
          return;
        }
        break;
      case NumKind.F32:
        if (Math.fround(v) === v) {
          (this.data as Float32Array)[n] = v;
          this.length = n + 1;
          return;
        }
        break;
      case NumKind.D1:
      case NumKind.D2:
      case NumKind.D3: {
        const s = SCALE[this.kind]!;
        const m = Math.round(v * s);
        if (m / s === v && (m | 0) === m && (v !== 0 || 1 / v > 0)) {
          (this.data as Int32Array)[n] = m;
          this.length = n + 1;
          return;
        }
        break;
      }
      default:
        (this.data as Float64Array)[n] = v;
        this.length = n + 1;
        return;
    }
    this.widen(v);
    this.push(v);
  }

  get(i: number): number {
    switch (this.kind) {
      case NumKind.D1:
        return (this.data as Int32Array)[i]! / 10;
      case NumKind.D2:
        return (this.data as Int32Array)[i]! / 100;
      case NumKind.D3:
        return (this.data as Int32Array)[i]! / 1000;
      default:
        return this.data[i]!;
    }
  }

  /** Values [from, to) written to out from `at`. */
  copyTo(out: Float64Array | number[], from: number, to: number, at = 0): void {
    const d = this.data;
    const s = SCALE[this.kind]!;
    if (s === 1) for (let i = from; i < to; i++) out[at++] = d[i]!;
    else for (let i = from; i < to; i++) out[at++] = d[i]! / s;
  }

  /** Values [from, to) as a new array. */
  slice(from: number, to: number): number[] {
    const out: number[] = new Array(to - from);
    this.copyTo(out, from, to);
    return out;
  }

  /** Every value as a Float64Array (the stored array itself where it is one). */
  toFloat64(): Float64Array {
    if (this.kind === NumKind.F64) return (this.data as Float64Array).subarray(0, this.length);
    const out = new Float64Array(this.length);
    this.copyTo(out, 0, this.length);
    return out;
  }

  /** Whether every value is finite (only a float kind can hold one that is not). */
  allFinite(): boolean {
    if (this.kind !== NumKind.F32 && this.kind !== NumKind.F64) return true;
    const d = this.data;
    for (let i = 0; i < this.length; i++) if (!Number.isFinite(d[i]!)) return false;
    return true;
  }

  /** Forget values from index n on. */
  truncate(n: number): void {
    if (n < this.length) this.length = n;
  }

  /** Release unused capacity. */
  trim(): void {
    if (this.data.length > this.length + 16) this.data = this.data.slice(0, this.length);
  }

  /** Bytes held. */
  get byteLength(): number {
    return this.data.byteLength;
  }

  private grow(need: number): void {
    const next = storeFor(this.kind, Math.max(need, Math.ceil(this.data.length * 1.5)));
    next.set(this.data as never);
    this.data = next;
  }

  /** Move to the first kind after the current one that keeps every value and `v`. */
  private widen(v: number): void {
    const n = this.length;
    for (const kind of ORDER) {
      if (kind <= this.kind || !fits(kind, v)) continue;
      let all = true;
      for (let i = 0; i < n && all; i++) all = fits(kind, this.get(i));
      if (!all) continue;
      const next = storeFor(kind, this.data.length);
      const s = SCALE[kind]!;
      for (let i = 0; i < n; i++) next[i] = s === 1 ? this.get(i) : Math.round(this.get(i) * s);
      this.data = next;
      this.kind = kind;
      return;
    }
  }
}
