import type { AnnotationColumns } from './annotation-columns.js';

/** Lookups over a dataset's annotations by index: by image, by id, and maps of objects made on demand. */

/** Annotation indices by image, in file order (a counting sort: image k's at idx[start[k]..start[k+1])). */
export class ImageIndex {
  private readonly pos = new Map<number, number>();
  private readonly start: Int32Array;
  private readonly idx: Int32Array;

  /** `imageIds`: the dataset's images, in order. */
  constructor(cols: AnnotationColumns, imageIds: Iterable<number>) {
    let k = 0;
    for (const id of imageIds) this.pos.set(id, k++);
    const n = cols.length;
    const of = new Int32Array(n);
    const start = new Int32Array(k + 1);
    // Files list an image's annotations together: one map lookup per run of them.
    let lastId = NaN;
    let lastPos = -1;
    for (let i = 0; i < n; i++) {
      const id = cols.imageIdOf(i);
      if (id !== lastId) {
        lastId = id;
        lastPos = this.pos.get(id) ?? -1;
      }
      of[i] = lastPos;
      if (lastPos >= 0) start[lastPos + 1]!++;
    }
    for (let j = 0; j < k; j++) start[j + 1]! += start[j]!;
    const fill = start.slice(0, k);
    const idx = new Int32Array(start[k]!);
    for (let i = 0; i < n; i++) if (of[i]! >= 0) idx[fill[of[i]!]!++] = i;
    this.start = start;
    this.idx = idx;
  }

  /** The image's annotations (empty for an image without any, or an unknown one). */
  of(imageId: number): Int32Array {
    const k = this.pos.get(imageId);
    return k === undefined ? new Int32Array(0) : this.idx.subarray(this.start[k]!, this.start[k + 1]!);
  }
}

/** Annotation indices by id: sorted by (id, index), searched by halving. */
export class IdIndex {
  private readonly ids: Float64Array;
  private readonly order: Int32Array;

  constructor(cols: AnnotationColumns) {
    const ids = cols.numbers('id');
    const order = new Int32Array(cols.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    // Files usually list their annotations in id order: nothing to sort then.
    let sorted = true;
    for (let i = 1; i < ids.length && sorted; i++) sorted = ids[i - 1]! <= ids[i]!;
    if (!sorted) order.sort((a, b) => ids[a]! - ids[b]! || a - b);
    this.ids = ids;
    this.order = order;
  }

  /** The index of the last annotation with this id (as a map filled in file order keeps it), or -1. */
  find(id: number): number {
    const { ids, order } = this;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[order[mid]!]! <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && ids[order[lo - 1]!] === id ? order[lo - 1]! : -1;
  }
}

/**
 * A Map whose entries are made on demand (get / has), and all at once,
 * in the order the complete map has them, when it is iterated, sized or
 * changed: so that reading one image's annotations of a 10^7-annotation
 * file does not make every annotation's object.
 */
export class OnDemandMap<V> extends Map<number, V> {
  private complete = false;

  constructor(
    private readonly one: (key: number) => V | undefined,
    private readonly every: (made: (key: number) => V | undefined, put: (key: number, v: V) => void) => void,
  ) {
    super();
  }

  private fill(): void {
    if (this.complete) return;
    const made = new Map(super.entries());
    super.clear();
    this.every(
      (k) => made.get(k),
      (k, v) => void super.set(k, v),
    );
    this.complete = true;
  }

  override get(key: number): V | undefined {
    let v = super.get(key);
    if (v === undefined && !this.complete) {
      v = this.one(key);
      if (v !== undefined) super.set(key, v);
    }
    return v;
  }

  override has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  override get size(): number {
    this.fill();
    return super.size;
  }

  override set(key: number, v: V): this {
    this.fill();
    return super.set(key, v);
  }

  override delete(key: number): boolean {
    this.fill();
    return super.delete(key);
  }

  override clear(): void {
    this.complete = true;
    super.clear();
  }

  override forEach(f: (v: V, k: number, m: Map<number, V>) => void, thisArg?: unknown): void {
    this.fill();
    super.forEach(f, thisArg);
  }

  override keys(): MapIterator<number> {
    this.fill();
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.fill();
    return super.values();
  }

  override entries(): MapIterator<[number, V]> {
    this.fill();
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[number, V]> {
    return this.entries();
  }
}

