import { readSync } from 'node:fs';
import { POW10, decimalToDouble } from './decimal.js';

/**
 * A byte-level JSON parser over a window of a file that moves on (or
 * grows) as the parse goes: nothing is ever held as one string, so files
 * larger than V8's 512 MiB string limit parse. A value that runs off the
 * window's end is parsed again once the window holds more (`retry`,
 * `list`), so an entry is never read from two windows.
 *
 * Values are those JSON.parse gives: numbers through decimal.ts (or
 * Number() of their text), strings decoded from UTF-8 as Buffer#toString
 * decodes them, "__proto__" an own key, later duplicate keys winning.
 */

/** Thrown inside the parser at a syntax error or the window's end; `failAt` says where. */
export const FAIL = Symbol('fail');

/** A syntax error at a byte of the file. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    what: string,
  ) {
    super(`${what} at byte ${offset}`);
  }
}

export const QUOTE = 34;
export const BACKSLASH = 92;
export const COMMA = 44;
export const COLON = 58;
export const LBRACKET = 91;
export const RBRACKET = 93;
export const LBRACE = 123;
export const RBRACE = 125;
export const MINUS = 45;
export const ZERO = 48;
export const NINE = 57;
const DOT = 46;

/** The most an entry's start waits for: 1 MiB of the file in the window (or a quarter of the window). */
const AHEAD = 1 << 20;

interface Slices extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** o[key] = v as JSON.parse sets it: "__proto__" is an own property (assignment would set the prototype). */
export function define(o: Record<string, unknown>, key: string, v: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
  else o[key] = v;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : c <= 70 ? c - 55 : c - 87;
}

function describe(c: number | undefined): string {
  if (c === undefined) return 'unexpected end of file';
  return c >= 0x20 && c < 0x7f ? `unexpected '${String.fromCharCode(c)}'` : `unexpected byte 0x${c.toString(16).padStart(2, '0')}`;
}

export class JsonWindow {
  /** The window: file bytes [base, base + end) at b[0..end). */
  b: Uint8Array;
  protected s: Slices;
  private buf: Uint8Array;
  p = 0;
  end = 0;
  base = 0;
  eof: boolean;
  failAt = 0;
  /** Recently seen object keys, so that 10^6 objects share their key strings. */
  private readonly keyCache: ({ bytes: Uint8Array; key: string } | undefined)[] = new Array(512);
  /** An entry is started with at least this much of the file in the window (when the file has it). */
  private readonly ahead: number;

  constructor(
    private readonly fd: number | null,
    protected size: number,
    bytes: Uint8Array | null,
    windowBytes: number,
  ) {
    this.ahead = Math.min(AHEAD, windowBytes >> 2);
    if (bytes) {
      this.buf = bytes;
      this.end = bytes.length;
      this.eof = true;
    } else {
      this.buf = new Uint8Array(Math.max(64, Math.min(windowBytes, size)));
      this.eof = size === 0;
    }
    this.b = this.buf.subarray(0, this.end);
    this.s = Buffer.from(this.b.buffer, this.b.byteOffset, this.b.length) as Slices;
    if (!bytes) this.fill(0);
  }

  /** Drop the window's bytes before `keep` and read on; the window grows when `keep` is its start and it is full. */
  fill(keep: number): void {
    if (this.fd === null) return;
    let buf = this.buf;
    const rest = this.end - keep;
    if (keep === 0 && this.end === buf.length) {
      buf = new Uint8Array(buf.length * 2);
      buf.set(this.buf.subarray(0, this.end));
      this.buf = buf;
    } else if (keep > 0) buf.copyWithin(0, keep, this.end);
    this.base += keep;
    this.end = rest;
    while (this.end < buf.length && this.base + this.end < this.size) {
      const got = readSync(this.fd, buf, this.end, buf.length - this.end, this.base + this.end);
      if (got === 0) {
        this.size = this.base + this.end;
        break;
      }
      this.end += got;
    }
    this.eof = this.base + this.end >= this.size;
    this.b = buf.subarray(0, this.end);
    this.s = Buffer.from(this.b.buffer, this.b.byteOffset, this.b.length) as Slices;
  }

  /** Make sure the window holds `ahead` bytes from p (or the file's end). */
  ensure(): void {
    if (!this.eof && this.p > 0 && this.end - this.p < this.ahead) {
      this.fill(this.p);
      this.p = 0;
    }
  }

  fail(at: number): never {
    this.failAt = at;
    throw FAIL;
  }

  /** After FAIL: whether more of the file could change the outcome (the parse ran off the window). */
  ranOff(): boolean {
    return !this.eof && this.failAt >= this.end;
  }

  syntaxError(): JsonSyntaxError {
    return new JsonSyntaxError(this.base + this.failAt, describe(this.b[this.failAt]));
  }

  ws(p: number): number {
    const b = this.b;
    for (;;) {
      const c = b[p];
      if (c === 32 || c === 10 || c === 13 || c === 9) p++;
      else return p;
    }
  }

  /** A JSON number at p, with JSON.parse's value. */
  number(): number {
    const b = this.b;
    let p = this.p;
    const start = p;
    const neg = b[p] === MINUS;
    if (neg) p++;
    let head = 0;
    let tail = 0;
    let tailDigits = 0;
    let digits = 0;
    let scale = 0;
    let c = b[p]!;
    if (c === ZERO) c = b[++p]!;
    else if (c > ZERO && c <= NINE) {
      do {
        if (digits < 15) head = head * 10 + (c - ZERO);
        else if (digits < 19) {
          tail = tail * 10 + (c - ZERO);
          tailDigits++;
        }
        digits++;
        c = b[++p]!;
      } while (c >= ZERO && c <= NINE);
    } else this.fail(p);
    if (c === DOT) {
      c = b[++p]!;
      if (!(c >= ZERO && c <= NINE)) this.fail(p);
      do {
        if (digits > 0 || c !== ZERO) {
          if (digits < 15) head = head * 10 + (c - ZERO);
          else if (digits < 19) {
            tail = tail * 10 + (c - ZERO);
            tailDigits++;
          }
          digits++;
        }
        if (digits <= 19) scale++;
        c = b[++p]!;
      } while (c >= ZERO && c <= NINE);
    }
    let exp = 0;
    if (c === 101 || c === 69) {
      c = b[++p]!;
      let expNeg = false;
      if (c === MINUS || c === 43) {
        expNeg = c === MINUS;
        c = b[++p]!;
      }
      if (!(c >= ZERO && c <= NINE)) this.fail(p);
      do {
        if (exp < 1e6) exp = exp * 10 + (c - ZERO);
        c = b[++p]!;
      } while (c >= ZERO && c <= NINE);
      if (expNeg) exp = -exp;
    }
    this.p = p;
    const e10 = exp - scale;
    // Up to 15 digits and a power of ten up to 22: one correctly rounded operation on exact operands.
    if (tailDigits === 0 && e10 >= -22 && e10 <= 22) {
      const v = e10 < 0 ? head / POW10[-e10]! : head * POW10[e10]!;
      return neg ? -v : v;
    }
    // Integer digits past the 19th are not kept: such a number goes to Number().
    const v = digits > 19 ? NaN : decimalToDouble(head, tail, tailDigits, e10);
    if (v === v) return neg ? -v : v;
    return Number(this.s.latin1Slice(start, p));
  }

  /** A string at p (its opening quote). */
  string(): string {
    const b = this.b;
    const start = this.p + 1;
    let p = start;
    let ascii = true;
    for (;;) {
      const c = b[p];
      if (c === QUOTE) break;
      if (c === undefined || c < 0x20) this.fail(p);
      if (c === BACKSLASH) return this.escapedString(start);
      if (c >= 0x80) ascii = false;
      p++;
    }
    this.p = p + 1;
    return ascii ? this.s.latin1Slice(start, p) : this.s.utf8Slice(start, p);
  }

  /** A string with escapes, from `start` (after its opening quote). */
  private escapedString(start: number): string {
    const b = this.b;
    let out = '';
    let run = start;
    let p = start;
    for (;;) {
      const c = b[p];
      if (c === undefined || c < 0x20) this.fail(p);
      if (c === QUOTE) break;
      if (c !== BACKSLASH) {
        p++;
        continue;
      }
      out += this.s.utf8Slice(run, p);
      const e = b[p + 1];
      if (e === 117) {
        for (let k = 2; k < 6; k++) if (!isHex(b[p + k])) this.fail(p + k);
        out += String.fromCharCode((hexValue(b[p + 2]!) << 12) | (hexValue(b[p + 3]!) << 8) | (hexValue(b[p + 4]!) << 4) | hexValue(b[p + 5]!));
        p += 6;
      } else {
        const map: Record<number, string> = { 34: '"', 92: '\\', 47: '/', 98: '\b', 102: '\f', 110: '\n', 114: '\r', 116: '\t' };
        const ch = e === undefined ? undefined : map[e];
        if (ch === undefined) this.fail(p + 1);
        out += ch;
        p += 2;
      }
      run = p;
    }
    this.p = p + 1;
    return out + this.s.utf8Slice(run, p);
  }

  /** An object key at p, shared with earlier keys of the same bytes. */
  key(): string {
    const b = this.b;
    const start = this.p + 1;
    let p = start;
    let h = 0;
    for (;;) {
      const c = b[p];
      if (c === QUOTE) break;
      if (c === undefined || c === BACKSLASH || c < 0x20 || p - start > 64) return this.string();
      h = (h * 31 + c) | 0;
      p++;
    }
    const slot = (h ^ (p - start)) & 511;
    const hit = this.keyCache[slot];
    if (hit && hit.bytes.length === p - start) {
      const k = hit.bytes;
      let i = 0;
      while (i < k.length && k[i] === b[start + i]) i++;
      if (i === k.length) {
        this.p = p + 1;
        return hit.key;
      }
    }
    const key = this.string();
    this.keyCache[slot] = { bytes: b.slice(start, p), key };
    return key;
  }

  literal(word: string, v: unknown): unknown {
    const b = this.b;
    for (let i = 0; i < word.length; i++) if (b[this.p + i] !== word.charCodeAt(i)) this.fail(this.p + i);
    this.p += word.length;
    return v;
  }

  /** Any JSON value at p (after whitespace). */
  value(): unknown {
    const b = this.b;
    const p = (this.p = this.ws(this.p));
    const c = b[p];
    switch (c) {
      case QUOTE:
        return this.string();
      case LBRACE: {
        const o: Record<string, unknown> = {};
        this.p = this.ws(p + 1);
        if (b[this.p] === RBRACE) {
          this.p++;
          return o;
        }
        for (;;) {
          if (b[this.p] !== QUOTE) this.fail(this.p);
          const k = this.key();
          this.p = this.ws(this.p);
          if (b[this.p] !== COLON) this.fail(this.p);
          this.p++;
          define(o, k, this.value());
          this.p = this.ws(this.p);
          const d = b[this.p];
          if (d === COMMA) this.p = this.ws(this.p + 1);
          else if (d === RBRACE) {
            this.p++;
            return o;
          } else this.fail(this.p);
        }
      }
      case LBRACKET: {
        const a: unknown[] = [];
        this.p = this.ws(p + 1);
        if (b[this.p] === RBRACKET) {
          this.p++;
          return a;
        }
        for (;;) {
          a.push(this.value());
          this.p = this.ws(this.p);
          const d = b[this.p];
          if (d === COMMA) this.p++;
          else if (d === RBRACKET) {
            this.p++;
            return a;
          } else this.fail(this.p);
        }
      }
      case 116:
        return this.literal('true', true);
      case 102:
        return this.literal('false', false);
      case 110:
        return this.literal('null', null);
      default:
        if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number();
        return this.fail(p);
    }
  }

  /** `read` at p, read again with more of the file while it runs off the window (`undo` drops what a failed attempt left). */
  retry<T>(read: () => T, undo?: () => void): T {
    this.ensure();
    let start = this.p;
    for (;;) {
      try {
        return read();
      } catch (err) {
        undo?.();
        if (err !== FAIL || !this.ranOff()) throw err;
        this.fill(start);
        this.p = start = 0;
      }
    }
  }

  /** A whole value at p. */
  whole(): unknown {
    return this.retry(() => this.value());
  }

  /**
   * The list at p, entry by entry: `entry` reads one at p (it may throw
   * FAIL); each attempt at an entry (from the comma before it) starts with
   * `begin`, and `undo` drops what a failed one left.
   */
  list(entry: () => void, begin: () => void = () => undefined, undo: () => void = () => undefined): void {
    this.p++;
    let first = true;
    let more = true;
    const next = () => {
      begin();
      this.p = this.ws(this.p);
      const c = this.b[this.p];
      if (c === RBRACKET) {
        this.p++;
        more = false;
        return;
      }
      if (!first) {
        if (c !== COMMA) this.fail(this.p);
        this.p = this.ws(this.p + 1);
      }
      entry();
    };
    while (more) {
      this.retry(next, undo);
      first = false;
    }
  }
}
