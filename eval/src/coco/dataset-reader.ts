import { closeSync, fstatSync, openSync } from 'node:fs';
import { AnnKey, AnnotationTable, type Layout } from './annotation-table.js';
import { BACKSLASH, COLON, COMMA, FAIL, JsonWindow, LBRACE, LBRACKET, MINUS, NINE, QUOTE, RBRACE, RBRACKET, ZERO, define } from './json-window.js';

export { JsonSyntaxError } from './json-window.js';

/**
 * A reader for COCO-format annotation files of any size: the byte-level
 * JSON parser of json-window.ts, reading the file a window at a time,
 * which puts the annotations straight into columns (annotation-table.ts)
 * and everything else — info, images, categories, licenses, any other key
 * — into the values JSON.parse would give.
 *
 * An annotation of the usual shape is read by a fast path; any other (an
 * escaped or repeated key, another type of value for a key the evaluator
 * reads) is read as a plain value and kept whole.
 */

/** What a file holds: its top-level object, with `annotations` (when a list) as a table. */
export interface ParsedDataset {
  /** Every top-level key in file order; a list of annotations is the table itself. */
  top: Record<string, unknown>;
  table: AnnotationTable | null;
}

export interface ReadOptions {
  /** Bytes read from the file at a time (16 MiB); the window grows past it only for an entry that is larger. */
  windowBytes?: number;
}

const KEY_BYTES = ['id', 'image_id', 'category_id', 'area', 'iscrowd', 'bbox', 'segmentation'].map((k) => Uint8Array.from(k, (c) => c.charCodeAt(0)));

class DatasetReader extends JsonWindow {
  /** Extra annotation keys met so far, by their bytes. */
  private readonly extraKeys: { bytes: Uint8Array; key: number }[] = [];

  /** The id of the annotation key whose name is b[start, end) (no escapes in it). */
  private annKey(t: AnnotationTable, start: number, end: number): number {
    const b = this.b;
    const n = end - start;
    let k = -1;
    switch (n) {
      case 2:
        k = AnnKey.Id;
        break;
      case 8:
        k = AnnKey.ImageId;
        break;
      case 11:
        k = AnnKey.CategoryId;
        break;
      case 4:
        k = b[start] === 97 ? AnnKey.Area : AnnKey.Bbox;
        break;
      case 7:
        k = AnnKey.Iscrowd;
        break;
      case 12:
        k = AnnKey.Segmentation;
        break;
    }
    if (k >= 0) {
      const name = KEY_BYTES[k]!;
      let i = 0;
      while (i < n && b[start + i] === name[i]) i++;
      if (i === n) return k;
    }
    for (const e of this.extraKeys) {
      if (e.bytes.length !== n) continue;
      let i = 0;
      while (i < n && b[start + i] === e.bytes[i]) i++;
      if (i === n) return e.key;
    }
    const key = t.extraKey(this.s.utf8Slice(start, end));
    this.extraKeys.push({ bytes: b.slice(start, end), key });
    return key;
  }

  /**
   * An annotation of the usual shape at p, into the table; false (with
   * whatever it pushed still to undo) for any other.
   */
  annotation(t: AnnotationTable): boolean {
    const b = this.b;
    let p = this.p;
    if (b[p] !== LBRACE) return false;
    p = this.ws(p + 1);
    const i = t.length;
    t.beginAnnotation();
    let layout: Layout | null = t.root;
    if (b[p] === RBRACE) {
      this.p = p + 1;
      t.endAnnotation(layout);
      return true;
    }
    for (;;) {
      if (b[p] !== QUOTE) return false;
      const ks = p + 1;
      let q = ks;
      for (;;) {
        const c = b[q];
        if (c === QUOTE) break;
        if (c === undefined || c === BACKSLASH || c < 0x20) return false;
        q++;
      }
      const key = this.annKey(t, ks, q);
      layout = layout.child(key);
      if (!layout) return false;
      p = this.ws(q + 1);
      if (b[p] !== COLON) return false;
      p = this.ws(p + 1);
      let c = b[p];
      switch (key) {
        case AnnKey.Id:
        case AnnKey.ImageId:
        case AnnKey.CategoryId:
        case AnnKey.Area:
        case AnnKey.Iscrowd: {
          if (!(c === MINUS || (c !== undefined && c >= ZERO && c <= NINE))) return false;
          this.p = p;
          const v = this.number();
          p = this.p;
          (key === AnnKey.Id ? t.id : key === AnnKey.ImageId ? t.imageId : key === AnnKey.CategoryId ? t.categoryId : key === AnnKey.Area ? t.area : t.iscrowd).push(v);
          break;
        }
        case AnnKey.Bbox: {
          if (c !== LBRACKET) return false;
          p = this.ws(p + 1);
          for (let k = 0; k < 4; k++) {
            c = b[p];
            if (!(c === MINUS || (c !== undefined && c >= ZERO && c <= NINE))) return false;
            this.p = p;
            t.bbox.push(this.number());
            p = this.ws(this.p);
            if (b[p] !== (k < 3 ? COMMA : RBRACKET)) return false;
            p = this.ws(p + 1);
          }
          break;
        }
        case AnnKey.Segmentation:
          if (c === LBRACKET) {
            p = this.polygons(t, p);
            if (p < 0) return false;
          } else {
            this.p = p;
            t.segValues.set(i, this.value());
            p = this.p;
          }
          break;
        default: {
          this.p = p;
          const v = this.value();
          p = this.p;
          if (typeof v === 'number') t.extraNums.push(v);
          else {
            t.extraOther.set(t.extraNums.length, v);
            t.extraNums.push(0);
          }
        }
      }
      p = this.ws(p);
      c = b[p];
      if (c === COMMA) p = this.ws(p + 1);
      else if (c === RBRACE) break;
      else return false;
    }
    this.p = p + 1;
    t.endAnnotation(layout);
    return true;
  }

  /** Polygons `[[x, y, ...], ...]` at p into the table; the position after them, or -1 for another shape. */
  private polygons(t: AnnotationTable, p: number): number {
    const b = this.b;
    p = this.ws(p + 1);
    if (b[p] === RBRACKET) {
      t.segParts.push(t.partEnds.length);
      return p + 1;
    }
    for (;;) {
      if (b[p] !== LBRACKET) return -1;
      p = this.ws(p + 1);
      if (b[p] !== RBRACKET) {
        for (;;) {
          const c = b[p];
          if (!(c === MINUS || (c !== undefined && c >= ZERO && c <= NINE))) return -1;
          this.p = p;
          t.coords.push(this.number());
          p = this.ws(this.p);
          const d = b[p];
          if (d === COMMA) p = this.ws(p + 1);
          else if (d === RBRACKET) break;
          else return -1;
        }
      }
      t.partEnds.push(t.coords.length);
      p = this.ws(p + 1);
      const d = b[p];
      if (d === COMMA) p = this.ws(p + 1);
      else if (d === RBRACKET) break;
      else return -1;
    }
    t.segParts.push(t.partEnds.length);
    return p + 1;
  }

  /** A list of annotations at p into a new table. */
  annotations(): AnnotationTable {
    // About 200 bytes an annotation in the files of the big datasets; the columns grow if there are more.
    const t = new AnnotationTable(Math.min(1 << 24, Math.max(1024, Math.ceil((this.size - this.base) / 256))));
    const mark = t.mark();
    this.list(
      () => {
        const start = this.p;
        if (this.annotation(t)) return;
        t.rollback(mark);
        this.p = start;
        t.pushOdd(this.value());
      },
      () => void t.mark(mark),
      () => t.rollback(mark),
    );
    t.trim();
    return t;
  }

  /** The whole file: a top-level object. */
  top(): ParsedDataset {
    const top: Record<string, unknown> = {};
    let table: AnnotationTable | null = null;
    // The opening brace, then each key and its colon, then a comma or the closing brace.
    let more = this.retry(() => {
      this.p = this.ws(this.p);
      if (this.b[this.p] !== LBRACE) this.fail(this.p);
      this.p = this.ws(this.p + 1);
      if (this.b[this.p] !== RBRACE) return true;
      this.p++;
      return false;
    });
    while (more) {
      const key = this.retry(() => {
        this.p = this.ws(this.p);
        if (this.b[this.p] !== QUOTE) this.fail(this.p);
        const k = this.key();
        this.p = this.ws(this.p);
        if (this.b[this.p] !== COLON) this.fail(this.p);
        this.p = this.ws(this.p + 1);
        if (this.b[this.p] === undefined) this.fail(this.p);
        return k;
      });
      if (this.b[this.p] === LBRACKET) {
        if (key === 'annotations') define(top, key, (table = this.annotations()));
        else {
          const list: unknown[] = [];
          this.list(() => void list.push(this.value()));
          define(top, key, list);
        }
      } else define(top, key, this.whole());
      if (key === 'annotations' && !(top[key] instanceof AnnotationTable)) table = null;
      more = this.retry(() => {
        this.p = this.ws(this.p);
        const c = this.b[this.p];
        if (c === COMMA) return true;
        if (c !== RBRACE) this.fail(this.p);
        return false;
      });
      this.p++;
    }
    // Nothing but whitespace may follow.
    for (;;) {
      this.p = this.ws(this.p);
      if (this.p < this.end) this.fail(this.p);
      if (this.eof) return { top, table };
      this.fill(this.p);
      this.p = 0;
    }
  }
}

/** Whether a file's first non-space byte opens an object (a COCO instances file must). */
function opensObject(r: DatasetReader): boolean {
  r.p = r.ws(0);
  return r.b[r.p] === LBRACE;
}

/**
 * Read a COCO-format file (or its bytes): its top-level object with the
 * annotations in a table. Throws JsonSyntaxError at invalid JSON, and
 * returns null when the file's top-level value is not an object.
 */
export function readDataset(source: { path: string } | { bytes: Uint8Array }, options: ReadOptions = {}): ParsedDataset | null {
  const windowBytes = options.windowBytes ?? 16 << 20;
  if ('bytes' in source) return parse(new DatasetReader(null, source.bytes.length, source.bytes, windowBytes));
  const fd = openSync(source.path, 'r');
  try {
    return parse(new DatasetReader(fd, fstatSync(fd).size, null, windowBytes));
  } finally {
    closeSync(fd);
  }
}

function parse(r: DatasetReader): ParsedDataset | null {
  if (!opensObject(r)) return null;
  try {
    return r.top();
  } catch (err) {
    if (err === FAIL) throw r.syntaxError();
    throw err;
  }
}
