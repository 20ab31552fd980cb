import { CompactNumbers } from './compact-numbers.js';
import type { AnnotationColumns, NumericField } from './annotation-columns.js';
import type { CocoAnnotation, Polygon, Segmentation } from './types.js';

/**
 * A COCO file's annotations held column by column: ids, image and category
 * ids, areas, crowd flags and boxes in typed arrays (each in the smallest
 * type that keeps its values exactly, see compact-numbers.ts); polygons as
 * offsets into one array of coordinates; any other value (an RLE, a key the
 * format does not define) as it was parsed. An annotation object is made
 * only when asked for, with the keys in the file's order and the values
 * JSON.parse gives.
 *
 * Objects365's 25 million boxes take about 1 GB here, where JavaScript
 * objects would take many.
 */

/** Key ids: the keys evaluation and training read, then every other key as it is first met. */
export const enum AnnKey {
  Id,
  ImageId,
  CategoryId,
  Area,
  Iscrowd,
  Bbox,
  Segmentation,
  FirstExtra,
}

export const KNOWN_KEYS = ['id', 'image_id', 'category_id', 'area', 'iscrowd', 'bbox', 'segmentation'] as const;

const NUMERIC_KEY: Record<NumericField, AnnKey> = { id: AnnKey.Id, image_id: AnnKey.ImageId, category_id: AnnKey.CategoryId, area: AnnKey.Area, iscrowd: AnnKey.Iscrowd, score: -1 as AnnKey };

/** The keys of an annotation, in its order; annotations with the same keys in the same order share one. */
export class Layout {
  /** Bit k set: known key k is present. */
  present = 0;
  /** How many keys are not known ones. */
  extras = 0;
  /** Where annotations with exactly these keys point (-1: none yet). */
  index = -1;
  /** The next key -> the layout that adds it. */
  readonly next: (Layout | undefined)[] = [];

  constructor(readonly keys: readonly number[]) {
    for (const k of keys) {
      if (k < AnnKey.FirstExtra) this.present |= 1 << k;
      else this.extras++;
    }
  }

  /** The layout with `key` added, or null when it is already here (a duplicate key). */
  child(key: number): Layout | null {
    const c = this.next[key];
    if (c) return c;
    if (this.keys.includes(key)) return null;
    return (this.next[key] = new Layout([...this.keys, key]));
  }
}

/** Column lengths at the start of an annotation, to undo a partly read one. */
export interface TableMark {
  n: number;
  id: number;
  imageId: number;
  categoryId: number;
  area: number;
  iscrowd: number;
  bbox: number;
  segParts: number;
  partEnds: number;
  coords: number;
  extras: number;
}

/** Annotations from this many on get their extra values' start recorded (one entry per block). */
const EXTRA_BLOCK = 64;

function define(o: Record<string, unknown>, key: string, v: unknown): void {
  // JSON.parse makes "__proto__" an own property; assignment would set the prototype.
  if (key === '__proto__') Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
  else o[key] = v;
}

export class AnnotationTable implements AnnotationColumns {
  length = 0;
  readonly id: CompactNumbers;
  readonly imageId: CompactNumbers;
  readonly categoryId: CompactNumbers;
  readonly area: CompactNumbers;
  readonly iscrowd: CompactNumbers;
  /** 4 per annotation (zeros where it has none). */
  readonly bbox: CompactNumbers;
  /** Layout index per annotation; 0 is an annotation kept whole as an object (`odd`). */
  readonly layoutOf: CompactNumbers;
  readonly root = new Layout([]);
  readonly layouts: Layout[] = [new Layout([])];
  /** Polygon parts read so far at the end of each annotation. */
  readonly segParts: CompactNumbers;
  /** Coordinates read so far at the end of each part. */
  readonly partEnds = new CompactNumbers();
  readonly coords = new CompactNumbers();
  /** Segmentations that are not polygon lists (RLEs, anything else), as parsed, by annotation. */
  readonly segValues = new Map<number, unknown>();
  /** Names of the keys from AnnKey.FirstExtra on. */
  readonly extraNames: string[] = [];
  /** Values of the other keys, in file order: numbers here, anything else in extraOther by position. */
  readonly extraNums = new CompactNumbers();
  readonly extraOther = new Map<number, unknown>();
  /** extraNums.length at annotation k * EXTRA_BLOCK. */
  private extraStarts: number[] = [];
  /** Annotations kept as parsed objects: those with a duplicate key or a value of another type for a known key. */
  readonly odd = new Map<number, unknown>();

  constructor(expected = 1024) {
    this.id = new CompactNumbers(expected);
    this.imageId = new CompactNumbers(expected);
    this.categoryId = new CompactNumbers(expected);
    this.area = new CompactNumbers(expected);
    this.iscrowd = new CompactNumbers(expected);
    this.bbox = new CompactNumbers(4 * expected);
    this.layoutOf = new CompactNumbers(expected);
    this.segParts = new CompactNumbers(expected);
  }

  /** The id of an extra key, new or known. */
  extraKey(name: string): number {
    let k = this.extraNames.indexOf(name);
    if (k < 0) k = this.extraNames.push(name) - 1;
    return AnnKey.FirstExtra + k;
  }

  /** Column lengths now, written to `m` (one object reused for every annotation: 10^7 of them would be garbage). */
  mark(m: TableMark = {} as TableMark): TableMark {
    m.n = this.length;
    m.id = this.id.length;
    m.imageId = this.imageId.length;
    m.categoryId = this.categoryId.length;
    m.area = this.area.length;
    m.iscrowd = this.iscrowd.length;
    m.bbox = this.bbox.length;
    m.segParts = this.segParts.length;
    m.partEnds = this.partEnds.length;
    m.coords = this.coords.length;
    m.extras = this.extraNums.length;
    return m;
  }

  /** Undo everything pushed since `m` (the annotation being read is dropped). */
  rollback(m: TableMark): void {
    this.id.truncate(m.id);
    this.imageId.truncate(m.imageId);
    this.categoryId.truncate(m.categoryId);
    this.area.truncate(m.area);
    this.iscrowd.truncate(m.iscrowd);
    this.bbox.truncate(m.bbox);
    this.segParts.truncate(m.segParts);
    this.partEnds.truncate(m.partEnds);
    this.coords.truncate(m.coords);
    for (let k = m.extras; k < this.extraNums.length; k++) this.extraOther.delete(k);
    this.extraNums.truncate(m.extras);
    this.segValues.delete(m.n);
    this.odd.delete(m.n);
    this.layoutOf.truncate(m.n);
    this.length = m.n;
  }

  /** Record the start of annotation `length`'s extra values (called before its values are pushed). */
  beginAnnotation(): void {
    if (this.length % EXTRA_BLOCK === 0) this.extraStarts[this.length / EXTRA_BLOCK] = this.extraNums.length;
  }

  /**
   * Finish annotation `length`, whose keys make `layout`: columns of the
   * known keys it lacks get a filler, so that every column stays aligned.
   */
  endAnnotation(layout: Layout): void {
    const has = layout.present;
    if (!(has & (1 << AnnKey.Id))) this.id.push(0);
    if (!(has & (1 << AnnKey.ImageId))) this.imageId.push(0);
    if (!(has & (1 << AnnKey.CategoryId))) this.categoryId.push(0);
    if (!(has & (1 << AnnKey.Area))) this.area.push(0);
    if (!(has & (1 << AnnKey.Iscrowd))) this.iscrowd.push(0);
    if (!(has & (1 << AnnKey.Bbox))) for (let k = 0; k < 4; k++) this.bbox.push(0);
    if (this.segParts.length === this.length) this.segParts.push(this.partEnds.length);
    if (layout.index < 0) layout.index = this.layouts.push(layout) - 1;
    this.layoutOf.push(layout.index);
    this.length++;
  }

  /** Add annotation `length` as a parsed value kept whole (its columns hold what evaluation reads). */
  pushOdd(value: unknown): void {
    this.beginAnnotation();
    const o = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const num = (v: unknown) => (typeof v === 'number' ? v : 0);
    this.id.push(num(o.id));
    this.imageId.push(num(o.image_id));
    this.categoryId.push(num(o.category_id));
    this.area.push(num(o.area));
    this.iscrowd.push(o.iscrowd ? 1 : 0);
    const b = Array.isArray(o.bbox) && o.bbox.length === 4 && o.bbox.every((x) => typeof x === 'number') ? (o.bbox as number[]) : [0, 0, 0, 0];
    for (const x of b) this.bbox.push(x);
    this.segParts.push(this.partEnds.length);
    if (o.segmentation !== undefined) this.segValues.set(this.length, o.segmentation);
    this.odd.set(this.length, value);
    this.layoutOf.push(0);
    this.length++;
  }

  /** Release the columns' spare capacity once reading is done. */
  trim(): void {
    for (const c of [this.id, this.imageId, this.categoryId, this.area, this.iscrowd, this.bbox, this.layoutOf, this.segParts, this.partEnds, this.coords, this.extraNums]) c.trim();
  }

  private layout(i: number): Layout {
    return this.layouts[this.layoutOf.get(i)]!;
  }

  /** Whether annotation i has known key k (odd ones: as their object has it). */
  has(i: number, k: AnnKey): boolean {
    const odd = this.odd.get(i);
    if (odd !== undefined) return typeof odd === 'object' && odd !== null && (odd as Record<string, unknown>)[(KNOWN_KEYS as readonly string[])[k]!] !== undefined;
    return (this.layout(i).present & (1 << k)) !== 0;
  }

  /** Where annotation i's extra values start in extraNums. */
  private extraStart(i: number): number {
    const block = Math.floor(i / EXTRA_BLOCK);
    let at = this.extraStarts[block]!;
    for (let j = block * EXTRA_BLOCK; j < i; j++) at += this.layout(j).extras;
    return at;
  }

  /** Annotation i's polygons as arrays, or undefined when it has none stored here. */
  polygons(i: number): Polygon[] | undefined {
    const from = i === 0 ? 0 : this.segParts.get(i - 1);
    const to = this.segParts.get(i);
    if (!this.has(i, AnnKey.Segmentation) || this.segValues.has(i)) return undefined;
    const out: Polygon[] = new Array(to - from);
    let start = from === 0 ? 0 : this.partEnds.get(from - 1);
    for (let j = from; j < to; j++) {
      const end = this.partEnds.get(j);
      out[j - from] = this.coords.slice(start, end);
      start = end;
    }
    return out;
  }

  /** Coordinate ranges [start, end) of annotation i's polygon parts (empty when it has none stored here). */
  polygonParts(i: number): number[] {
    if (this.segValues.has(i) || !this.has(i, AnnKey.Segmentation)) return [];
    const from = i === 0 ? 0 : this.segParts.get(i - 1);
    const to = this.segParts.get(i);
    const out: number[] = [];
    let start = from === 0 ? 0 : this.partEnds.get(from - 1);
    for (let j = from; j < to; j++) {
      const end = this.partEnds.get(j);
      out.push(start, end);
      start = end;
    }
    return out;
  }

  // AnnotationColumns

  /** Annotation i as JSON.parse makes it (a new object each call). */
  get(i: number): CocoAnnotation {
    const odd = this.odd.get(i);
    if (odd !== undefined) return odd as CocoAnnotation;
    const layout = this.layout(i);
    const o: Record<string, unknown> = {};
    let extra = layout.extras > 0 ? this.extraStart(i) : 0;
    for (const k of layout.keys) {
      switch (k) {
        case AnnKey.Id:
          o.id = this.id.get(i);
          break;
        case AnnKey.ImageId:
          o.image_id = this.imageId.get(i);
          break;
        case AnnKey.CategoryId:
          o.category_id = this.categoryId.get(i);
          break;
        case AnnKey.Area:
          o.area = this.area.get(i);
          break;
        case AnnKey.Iscrowd:
          o.iscrowd = this.iscrowd.get(i);
          break;
        case AnnKey.Bbox:
          o.bbox = this.bbox.slice(4 * i, 4 * i + 4);
          break;
        case AnnKey.Segmentation:
          o.segmentation = this.segmentation(i);
          break;
        default:
          define(o, this.extraNames[k - AnnKey.FirstExtra]!, this.extraOther.has(extra) ? this.extraOther.get(extra) : this.extraNums.get(extra));
          extra++;
      }
    }
    return o as CocoAnnotation;
  }

  segmentation(i: number): Segmentation | undefined {
    if (this.segValues.has(i)) return this.segValues.get(i) as Segmentation;
    return this.polygons(i);
  }

  numbers(field: NumericField): Float64Array {
    const n = this.length;
    const out = new Float64Array(n);
    const k = NUMERIC_KEY[field];
    if (k < 0) {
      // Not a column (a GT file's scores): read from each annotation.
      for (let i = 0; i < n; i++) out[i] = (this.get(i)[field] ?? 0) as number;
      return out;
    }
    const col = [this.id, this.imageId, this.categoryId, this.area, this.iscrowd][k]!;
    col.copyTo(out, 0, n);
    const bit = 1 << k;
    const present = this.layouts.map((l) => l.present & bit);
    for (let i = 0; i < n; i++) {
      const l = this.layoutOf.get(i);
      if (l === 0) {
        const odd = this.odd.get(i);
        // As a Float64Array stores any value (undefined: NaN).
        out[i] = (typeof odd === 'object' && odd !== null ? (odd as Record<string, unknown>)[field] : undefined) as number;
      } else if (!present[l]) out[i] = NaN;
    }
    return out;
  }

  crowdFlags(): Uint8Array {
    const n = this.length;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.isCrowd(i) ? 1 : 0;
    return out;
  }

  boxes(): { xywh: Float64Array; has: Uint8Array } {
    const n = this.length;
    const xywh = this.bbox.toFloat64();
    const has = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const odd = this.odd.get(i);
      if (odd === undefined) has[i] = this.layout(i).present & (1 << AnnKey.Bbox) ? 1 : 0;
      else {
        const b = (odd as Record<string, unknown> | null)?.bbox;
        has[i] = Array.isArray(b) && b.length === 4 ? 1 : 0;
        if (has[i]) for (let k = 0; k < 4; k++) xywh[4 * i + k] = (b as number[])[k] as number;
      }
    }
    return { xywh, has };
  }

  idOf(i: number): number {
    return this.id.get(i);
  }

  imageIdOf(i: number): number {
    return this.imageId.get(i);
  }

  categoryIdOf(i: number): number {
    return this.categoryId.get(i);
  }

  isCrowd(i: number): boolean {
    const l = this.layoutOf.get(i);
    if (l === 0) return this.iscrowd.get(i) !== 0;
    return (this.layouts[l]!.present & (1 << AnnKey.Iscrowd)) !== 0 && this.iscrowd.get(i) !== 0;
  }

  bboxInto(i: number, out: Float64Array | number[], at: number): boolean {
    if (!this.has(i, AnnKey.Bbox)) return false;
    this.bbox.copyTo(out, 4 * i, 4 * i + 4, at);
    return true;
  }
}
