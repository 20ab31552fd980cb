import { closeSync, fstatSync, readSync } from 'node:fs';
import { openForReading } from '../io/file-io.js';
import { DensekitError } from '../util/errors.js';

/**
 * Reading large JSON files a piece at a time: JSON Lines line by line, and
 * a JSON list (a COCO results file) element by element. Memory holds one
 * chunk and one element, whatever the file's size.
 */

const CHUNK = 4 << 20;
const NEWLINE = 10;

/** Lines of a file, pulled one at a time (bytes without the newline). A last line without a newline is `tail`. */
export class LineReader {
  private readonly fd: number;
  readonly size: number;
  private buf: Buffer = Buffer.alloc(0);
  private at = 0;
  private pos = 0;
  /** File offset of the next line's first byte. */
  offset = 0;

  private readonly chunk: number;

  /** `chunkBytes`: how much is read at a time (default 4 MiB; less when many files are read side by side). */
  constructor(
    readonly path: string,
    opts: { chunkBytes?: number } = {},
  ) {
    this.chunk = opts.chunkBytes ?? CHUNK;
    this.fd = openForReading(path);
    this.size = fstatSync(this.fd).size;
  }

  /** The next complete line, or undefined at the end (bytes after the last newline are left in `tail()`). */
  next(): Buffer | undefined {
    for (;;) {
      const nl = this.buf.indexOf(NEWLINE, this.at);
      if (nl >= 0) {
        const line = this.buf.subarray(this.at, nl);
        this.offset += nl + 1 - this.at;
        this.at = nl + 1;
        return line;
      }
      if (this.pos >= this.size) return undefined;
      const rest = this.buf.subarray(this.at);
      const chunk = Buffer.allocUnsafe(Math.max(this.chunk, rest.length * 2));
      rest.copy(chunk, 0);
      const n = readSync(this.fd, chunk, rest.length, Math.min(chunk.length - rest.length, this.size - this.pos), this.pos);
      if (n === 0) return undefined;
      this.pos += n;
      this.buf = chunk.subarray(0, rest.length + n);
      this.at = 0;
    }
  }

  /** Bytes after the last newline (a torn last line), once next() has returned undefined. */
  tail(): number {
    return this.size - this.offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

const QUOTE = 34;
const BACKSLASH = 92;
const LBRACE = 123;
const RBRACE = 125;
const LBRACKET = 91;
const RBRACKET = 93;
const COMMA = 44;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/**
 * The elements of a file holding one JSON list of objects, each handed over
 * as its text (parsed by the caller): `each(text, index)`. Anything else —
 * not a list, a non-object element, bytes after the list — is an error
 * naming the file and the entry.
 */
export function forEachListElement(path: string, each: (text: string, index: number) => void): number {
  const fd = openForReading(path);
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(CHUNK);
    // 0: before '['; 1: before an element or ']'; 2: inside an element; 3: after an element (',' or ']'); 4: after ']'.
    let state = 0;
    let depth = 0;
    let inString = false;
    let escape = false;
    let parts: Buffer[] = [];
    let index = 0;
    let pos = 0;
    const bad = (what: string): never => {
      throw new DensekitError(`not a COCO results file: ${what}`, { file: path, index: state >= 1 && state <= 3 ? index : undefined });
    };
    while (pos < size) {
      const n = readSync(fd, chunk, 0, Math.min(CHUNK, size - pos), pos);
      if (n === 0) break;
      pos += n;
      let start = -1;
      for (let i = 0; i < n; i++) {
        const c = chunk[i]!;
        if (state === 2) {
          if (inString) {
            if (escape) escape = false;
            else if (c === BACKSLASH) escape = true;
            else if (c === QUOTE) inString = false;
            continue;
          }
          if (c === QUOTE) inString = true;
          else if (c === LBRACE || c === LBRACKET) depth++;
          else if (c === RBRACE || c === RBRACKET) {
            depth--;
            if (depth === 0) {
              parts.push(chunk.subarray(start < 0 ? 0 : start, i + 1));
              each(Buffer.concat(parts).toString('utf8'), index++);
              parts = [];
              start = -1;
              state = 3;
            }
          }
          continue;
        }
        if (isSpace(c)) continue;
        if (state === 0) {
          if (c !== LBRACKET) bad('expected a JSON list of detections');
          state = 1;
        } else if (state === 1 || state === 3) {
          if (c === RBRACKET && (state === 3 || index === 0)) state = 4;
          else if (state === 3) {
            if (c !== COMMA) bad(`expected "," or "]" after an entry, found "${String.fromCharCode(c)}"`);
            state = 1;
          } else if (c === LBRACE) {
            state = 2;
            depth = 1;
            start = i;
          } else bad('every entry must be an object');
        } else bad('bytes after the end of the list');
      }
      // An element continuing into the next chunk: keep its bytes so far.
      if (state === 2) parts.push(Buffer.from(chunk.subarray(start < 0 ? 0 : start, n)));
    }
    if (state !== 4) bad(state === 0 ? 'empty file' : 'the list is not closed (truncated?)');
    return index;
  } finally {
    closeSync(fd);
  }
}

/** The first byte of a file that is not whitespace (-1 when there is none in its first 64 KiB). */
export function firstByte(path: string): number {
  const fd = openForReading(path);
  try {
    const buf = Buffer.allocUnsafe(64 << 10);
    const n = readSync(fd, buf, 0, buf.length, 0);
    for (let i = 0; i < n; i++) if (!isSpace(buf[i]!)) return buf[i]!;
    return -1;
  } finally {
    closeSync(fd);
  }
}
