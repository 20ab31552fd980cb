/**
 * A reader for COCO results files of the usual shape — a JSON list of flat
 * objects with `image_id`, `category_id`, `score`, and `bbox` and/or a
 * compressed-RLE `segmentation` — that works on the file's bytes: no
 * JavaScript string is made for a mask's counts, and no object for a
 * result. On the benchmark's 100,000 masks (30 MB) it takes 60–130 ms,
 * where JSON.parse took about 230 ms and still left every counts string to
 * be decoded.
 *
 * Keys the results do not use are stepped over (loadRes ignores them), but
 * anything else it does not fully understand — another value type for a
 * key it uses, a duplicate key, a key with an escape, anything that is not
 * valid JSON — makes it give up (return null), and the caller reads the
 * file with `JSON.parse`.
 * Counts strings are only delimited here; their characters (an escape other
 * than a backslash pair included) are checked when they are decoded, and a
 * bad one sends the caller to `JSON.parse` too. So when reading succeeds
 * its values are exactly what `JSON.parse` would have given, and errors are
 * always reported by the general path.
 */

/** The fields of one scanned result, at `ScannedResults.data[i * Field.Stride + field]`. */
export const enum Field {
  ImageId,
  CategoryId,
  Score,
  /** 1 when the entry has a `bbox`, whose 4 numbers follow. */
  HasBbox,
  Bbox,
  /** 1 when the entry has a `segmentation`: its height and width, and the byte span of its counts (between the quotes). */
  HasSegm = Bbox + 4,
  Height,
  Width,
  CountsStart,
  CountsEnd,
  Stride,
}

/** Results read from bytes: entry i's fields at data[i * Field.Stride + field]. */
export interface ScannedResults {
  length: number;
  data: Float64Array;
}

/** Thrown inside the scanner to give up; caught at its entry point. */
const GIVE_UP = Symbol('give up');

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

/** Exactly representable powers of ten: a decimal with at most 15 digits scaled by one of these is correctly rounded. */
const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

const enum Key {
  /** A key the results do not use (skipped, as loadRes ignores it). */
  Other = 0,
  ImageId = 1,
  CategoryId = 2,
  Score = 4,
  Bbox = 8,
  Segmentation = 16,
  Size = 32,
  Counts = 64,
}

const KEYS: [Key, Uint8Array][] = [
  [Key.ImageId, 'image_id'],
  [Key.CategoryId, 'category_id'],
  [Key.Score, 'score'],
  [Key.Bbox, 'bbox'],
  [Key.Segmentation, 'segmentation'],
  [Key.Size, 'size'],
  [Key.Counts, 'counts'],
].map(([k, name]) => [k as Key, Uint8Array.from(name as string, (c) => c.charCodeAt(0))]);

/** The key a name starting with bytes c0 c1 can only be (their first two bytes tell them apart). */
function keyEntry(c0: number, c1: number): [Key, Uint8Array] | undefined {
  switch (c0) {
    case 105: // i
      return c1 === 109 ? KEYS[0] : undefined;
    case 99: // c
      return c1 === 97 ? KEYS[1] : c1 === 111 ? KEYS[6] : undefined;
    case 115: // s
      return c1 === 99 ? KEYS[2] : c1 === 101 ? KEYS[4] : c1 === 105 ? KEYS[5] : undefined;
    case 98: // b
      return c1 === 98 ? KEYS[3] : undefined;
    default:
      return undefined;
  }
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}

class Scanner {
  p = 0;
  /** The same bytes as a Buffer, whose indexOf is a native memchr (several times faster than a Uint8Array's). */
  private readonly search: Buffer;

  constructor(readonly b: Uint8Array) {
    this.search = Buffer.from(b.buffer, b.byteOffset, b.length);
  }

  ws(): void {
    const b = this.b;
    let p = this.p;
    for (;;) {
      const c = b[p];
      if (c === 32 || c === 10 || c === 13 || c === 9) p++;
      else break;
    }
    this.p = p;
  }

  /** Skip whitespace, then require byte `c`. */
  expect(c: number): void {
    this.ws();
    if (this.b[this.p] !== c) throw GIVE_UP;
    this.p++;
  }

  /** Skip whitespace and report whether the next byte is `c` (consuming it if so). */
  take(c: number): boolean {
    this.ws();
    if (this.b[this.p] !== c) return false;
    this.p++;
    return true;
  }

  /**
   * A key and its colon: one of KEYS, or (where `other` allows) Key.Other.
   * A key with an escape gives up: it could spell one of KEYS.
   */
  key(other: boolean): Key {
    this.expect(QUOTE);
    const b = this.b;
    const p = this.p;
    // The keys the results use are told apart by their first two bytes.
    const entry = keyEntry(b[p]!, b[p + 1]!);
    if (entry) {
      const name = entry[1];
      const n = name.length;
      let i = 2;
      while (i < n && b[p + i] === name[i]) i++;
      if (i === n && b[p + n] === QUOTE) {
        this.p = p + n + 1;
        this.expect(COLON);
        return entry[0];
      }
    }
    if (!other) throw GIVE_UP;
    const end = this.search.indexOf(QUOTE, p);
    if (end < 0) throw GIVE_UP;
    for (let i = p; i < end; i++) if (b[i] === BACKSLASH || b[i]! < 0x20) throw GIVE_UP;
    this.p = end + 1;
    this.expect(COLON);
    return Key.Other;
  }

  /** Step over any JSON value, checking it as JSON.parse would (its value is not needed). */
  skipValue(depth = 0): void {
    if (depth > 64) throw GIVE_UP;
    this.ws();
    const c = this.b[this.p];
    if (c === QUOTE) this.skipString();
    else if (c === LBRACE || c === LBRACKET) {
      const close = c === LBRACE ? RBRACE : RBRACKET;
      this.p++;
      if (this.take(close)) return;
      do {
        if (c === LBRACE) {
          this.ws();
          this.skipString();
          this.expect(COLON);
        }
        this.skipValue(depth + 1);
      } while (this.take(COMMA));
      this.expect(close);
    } else if (c === 116) this.literal('true');
    else if (c === 102) this.literal('false');
    else if (c === 110) this.literal('null');
    else this.number();
  }

  /** A string: no raw control characters, only JSON's escapes. */
  private skipString(): void {
    const b = this.b;
    if (b[this.p] !== QUOTE) throw GIVE_UP;
    let p = this.p + 1;
    for (;;) {
      const c = b[p++];
      if (c === undefined || c < 0x20) throw GIVE_UP;
      if (c === QUOTE) break;
      if (c !== BACKSLASH) continue;
      const e = b[p++];
      if (e === 117) {
        for (let i = 0; i < 4; i++, p++) if (!isHex(b[p])) throw GIVE_UP;
      } else if (!(e === QUOTE || e === BACKSLASH || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)) throw GIVE_UP;
    }
    this.p = p;
  }

  private literal(word: string): void {
    for (let i = 0; i < word.length; i++) if (this.b[this.p + i] !== word.charCodeAt(i)) throw GIVE_UP;
    this.p += word.length;
  }

  /**
   * A JSON number, with the value JSON.parse gives: up to 15 significant
   * digits and a power of ten up to 22 are converted exactly here (one
   * correctly rounded operation on exact operands); anything else goes
   * through Number() of its text, which uses the same algorithm as JSON.parse.
   */
  number(): number {
    this.ws();
    const b = this.b;
    const start = this.p;
    let p = start;
    const neg = b[p] === MINUS;
    if (neg) p++;
    let mant = 0;
    let digits = 0;
    let scale = 0;
    let c = b[p]!;
    if (c === ZERO) c = b[++p]!;
    else if (c > ZERO && c <= NINE) {
      do {
        mant = mant * 10 + (c - ZERO);
        digits++;
        c = b[++p]!;
      } while (c >= ZERO && c <= NINE);
    } else throw GIVE_UP;
    if (c === DOT) {
      c = b[++p]!;
      if (!(c >= ZERO && c <= NINE)) throw GIVE_UP;
      do {
        if (digits > 0 || c !== ZERO) {
          mant = mant * 10 + (c - ZERO);
          digits++;
        }
        scale++;
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
      if (!(c >= ZERO && c <= NINE)) throw GIVE_UP;
      do {
        if (exp < 1e6) exp = exp * 10 + (c - ZERO);
        c = b[++p]!;
      } while (c >= ZERO && c <= NINE);
      if (expNeg) exp = -exp;
    }
    this.p = p;
    const e10 = exp - scale;
    let v: number;
    if (digits <= 15 && e10 >= -22 && e10 <= 22) v = e10 < 0 ? mant / POW10[-e10]! : mant * POW10[e10]!;
    else return Number(String.fromCharCode(...b.subarray(start, p)));
    return neg ? -v : v;
  }

  /** `[n, n, ...]` with exactly `count` numbers, stored from out[at]. */
  numbers(count: number, out: Float64Array, at: number): void {
    this.expect(LBRACKET);
    for (let i = 0; i < count; i++) {
      if (i > 0) this.expect(COMMA);
      out[at + i] = this.number();
    }
    this.expect(RBRACKET);
  }

  /** `{"size": [h, w], "counts": "..."}` (either order) into the entry at out[o]. */
  segmentation(out: Float64Array, o: number): void {
    this.expect(LBRACE);
    let seen = 0;
    do {
      const k = this.key(false);
      if (seen & k) throw GIVE_UP;
      seen |= k;
      if (k === Key.Size) this.numbers(2, out, o + Field.Height);
      else if (k === Key.Counts) {
        // Its characters are checked when the counts are decoded.
        this.expect(QUOTE);
        const start = this.p;
        const end = this.search.indexOf(QUOTE, start);
        if (end < 0) throw GIVE_UP;
        this.p = end + 1;
        out[o + Field.CountsStart] = start;
        out[o + Field.CountsEnd] = end;
      } else throw GIVE_UP;
    } while (this.take(COMMA));
    this.expect(RBRACE);
    if (seen !== (Key.Size | Key.Counts)) throw GIVE_UP;
    const h = out[o + Field.Height]!;
    const w = out[o + Field.Width]!;
    if (!(Number.isInteger(h) && h >= 0 && Number.isInteger(w) && w >= 0)) throw GIVE_UP;
  }
}

/**
 * Read a results file's bytes, or null when the file is not of the usual
 * shape (the caller then uses JSON.parse, which also reports any error).
 */
export function scanResults(bytes: Uint8Array): ScannedResults | null {
  // Byte positions are kept as int32 in the decoders.
  if (bytes.length >= 2 ** 31) return null;
  // A result takes at least ~50 bytes; the table grows if they are smaller.
  let data = new Float64Array(Field.Stride * Math.max(16, Math.ceil(bytes.length / 64)));
  let n = 0;
  const s = new Scanner(bytes);
  try {
    s.expect(LBRACKET);
    if (s.take(RBRACKET)) return null; // an empty list is an error, reported by the general path
    do {
      if ((n + 1) * Field.Stride > data.length) {
        const grown = new Float64Array(data.length * 2);
        grown.set(data);
        data = grown;
      }
      // A new row is all zeros: the table is only ever appended to.
      const o = n * Field.Stride;
      s.expect(LBRACE);
      let seen = 0;
      do {
        const k = s.key(true);
        if (seen & k) throw GIVE_UP;
        seen |= k;
        switch (k) {
          case Key.Other:
            s.skipValue();
            break;
          case Key.ImageId:
            data[o + Field.ImageId] = s.number();
            break;
          case Key.CategoryId:
            data[o + Field.CategoryId] = s.number();
            break;
          case Key.Score:
            data[o + Field.Score] = s.number();
            break;
          case Key.Bbox:
            s.numbers(4, data, o + Field.Bbox);
            data[o + Field.HasBbox] = 1;
            break;
          case Key.Segmentation:
            s.segmentation(data, o);
            data[o + Field.HasSegm] = 1;
            break;
          default:
            throw GIVE_UP;
        }
      } while (s.take(COMMA));
      s.expect(RBRACE);
      // The general path words the errors for missing fields.
      if ((seen & (Key.ImageId | Key.CategoryId | Key.Score)) !== (Key.ImageId | Key.CategoryId | Key.Score)) throw GIVE_UP;
      if (!(seen & (Key.Bbox | Key.Segmentation))) throw GIVE_UP;
      n++;
    } while (s.take(COMMA));
    s.expect(RBRACKET);
    s.ws();
    if (s.p !== bytes.length) throw GIVE_UP;
  } catch (err) {
    if (err === GIVE_UP) return null;
    throw err;
  }
  return { length: n, data };
}
