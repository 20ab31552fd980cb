import { EvalInputError } from '../errors.js';
import type { AnnotationColumns } from './annotation-columns.js';
import { AnnKey, AnnotationTable } from './annotation-table.js';
import type { PolygonSet } from './helper-tasks.js';
import type { HelperThread } from './helper-thread.js';
import { rleFrPoly, rleFrString, rleMerge, rleToBbox } from './rle.js';
import { BytesRle, type CountsArena } from './rle-bytes.js';
import type { Bbox, Rle } from './rle-types.js';
import type { CocoAnnotation, CocoImage, Polygon, Segmentation } from './types.js';

/**
 * The masks of a dataset's annotations (behind Coco's annToRle, maskBox
 * and their variants): made from the segmentation on demand, kept where
 * that pays, and — for results read from a file — boxes found while
 * loading. Evaluation asks by annotation index; the public API by object.
 */
export class AnnotationMasks {
  /** Parsed RLEs of annotation objects, filled lazily by `rle`. */
  private readonly rleCache = new WeakMap<CocoAnnotation, Rle>();
  /** Tight boxes of the masks, filled by `box`. */
  private readonly boxCache = new WeakMap<CocoAnnotation, Bbox>();
  /** RLEs of annotations held in columns, by index. */
  private readonly rleByIndex = new Map<number, Rle>();
  /** Of results: the masks' tight boxes found while loading, by list index (4 numbers each). */
  private loaded?: { boxes: Float64Array; known: Uint8Array };

  constructor(
    private columns: AnnotationColumns,
    private readonly imgs: ReadonlyMap<number, CocoImage>,
    private readonly source: string,
  ) {}

  /** The annotations are now `columns` (the same ones, as objects): masks made by index are kept for the objects. */
  rebase(columns: AnnotationColumns): void {
    for (const [i, rle] of this.rleByIndex) this.rleCache.set(columns.get(i), rle);
    this.rleByIndex.clear();
    this.columns = columns;
  }

  private image(imageId: number, id: unknown): CocoImage {
    const img = this.imgs.get(imageId);
    if (!img) throw new EvalInputError(`annotation ${id}: image ${imageId} is unknown`, this.source);
    return img;
  }

  /** The mask of a segmentation (or, without one, of the box) in an image of h x w. */
  private make(seg: Segmentation | undefined, bbox: ArrayLike<number> | undefined, h: number, w: number, id: unknown): Rle {
    if (seg === undefined) {
      if (!bbox || bbox.length !== 4) throw new EvalInputError(`annotation ${id} has no segmentation`, this.source);
      const [x, y, bw, bh] = [bbox[0]!, bbox[1]!, bbox[2]!, bbox[3]!];
      return rleFrPoly([x, y, x, y + bh, x + bw, y + bh, x + bw, y], h, w);
    }
    if (Array.isArray(seg)) return seg.length === 1 ? rleFrPoly(seg[0] as Polygon, h, w) : rleMerge((seg as Polygon[]).map((p) => rleFrPoly(p, h, w)), false);
    if (seg instanceof BytesRle) return seg.toRle();
    if (typeof seg.counts === 'string') return rleFrString(seg.counts, seg.size[0], seg.size[1]);
    return { h: seg.size[0], w: seg.size[1], counts: Uint32Array.from(seg.counts) };
  }

  /** Coco.annToRle: the mask, kept. */
  rle(ann: CocoAnnotation): Rle {
    let rle = this.rleCache.get(ann);
    if (!rle) this.rleCache.set(ann, (rle = this.rleOnce(ann)));
    return rle;
  }

  /** Coco.annToRleOnce: the mask, not kept. */
  rleOnce(ann: CocoAnnotation): Rle {
    const img = this.image(ann.image_id, ann.id);
    return this.make(ann.segmentation, ann.bbox, img.height, img.width, ann.id);
  }

  /** Coco.annToRleIn: a mask read from a results file is decoded into `arena`. */
  rleIn(ann: CocoAnnotation, arena: CountsArena): Rle {
    const seg = ann.segmentation;
    return seg instanceof BytesRle ? arena.decode(seg) : this.rleOnce(ann);
  }

  /** Coco.maskBox: the mask's tight box. */
  box(ann: CocoAnnotation): Bbox {
    const i = this.loadedBoxIndex(ann);
    if (i >= 0) {
      const b = this.loaded!.boxes;
      return [b[4 * i]!, b[4 * i + 1]!, b[4 * i + 2]!, b[4 * i + 3]!];
    }
    let box = this.boxCache.get(ann);
    if (!box) this.boxCache.set(ann, (box = rleToBbox(this.rle(ann))));
    return box;
  }

  /** Coco.maskBoxInto: `box` written to out[at..at+4). */
  boxInto(ann: CocoAnnotation, out: Float64Array, at: number): void {
    const i = this.loadedBoxIndex(ann);
    if (i >= 0) out.set(this.loaded!.boxes.subarray(4 * i, 4 * i + 4), at);
    else out.set(this.box(ann), at);
  }

  /** The mask of annotation i, kept. */
  rleAt(i: number): Rle {
    const c = this.columns;
    if (!(c instanceof AnnotationTable)) return this.rle(c.get(i));
    let rle = this.rleByIndex.get(i);
    if (!rle) this.rleByIndex.set(i, (rle = this.rleOnceAt(i)));
    return rle;
  }

  /** The mask of annotation i, not kept. */
  private rleOnceAt(i: number): Rle {
    const c = this.columns;
    if (!(c instanceof AnnotationTable) || c.odd.has(i)) return this.rleOnce(c.get(i));
    const { height: h, width: w } = this.image(c.imageIdOf(i), c.idOf(i));
    const parts = c.polygonParts(i);
    if (parts.length === 0) {
      const box = c.has(i, AnnKey.Bbox) ? c.bbox.slice(4 * i, 4 * i + 4) : undefined;
      return this.make(c.segmentation(i), box, h, w, c.idOf(i));
    }
    const rles: Rle[] = [];
    for (let k = 0; k < parts.length; k += 2) {
      const xy = new Float64Array(parts[k + 1]! - parts[k]!);
      c.coords.copyTo(xy, parts[k]!, parts[k + 1]!);
      rles.push(rleFrPoly(xy, h, w));
    }
    return rles.length === 1 ? rles[0]! : rleMerge(rles, false);
  }

  /** The mask of annotation i; one read from a results file is decoded into `arena`. */
  rleInAt(i: number, arena: CountsArena): Rle {
    const c = this.columns;
    if (c instanceof AnnotationTable) return this.rleOnceAt(i);
    return this.rleIn(c.get(i), arena);
  }

  /** The tight box of annotation i's mask, written to out[at..at+4). */
  boxIntoAt(i: number, out: Float64Array, at: number): void {
    const loaded = this.loaded;
    if (loaded && loaded.known[i]) out.set(loaded.boxes.subarray(4 * i, 4 * i + 4), at);
    else if (this.columns instanceof AnnotationTable) out.set(rleToBbox(this.rleAt(i)), at);
    else out.set(this.box(this.columns.get(i)), at);
  }

  /** Keep the boxes found while loading results: annotation i's (where known[i]) at boxes[4i..4i+4). */
  keepLoadedBoxes(boxes: Float64Array, known: Uint8Array): void {
    this.loaded = { boxes, known };
  }

  /** Where a result's mask box found while loading is (results have ids 1..N in list order), or -1. */
  private loadedBoxIndex(ann: CocoAnnotation): number {
    const loaded = this.loaded;
    const i = ann.id - 1;
    return loaded && i >= 0 && i < this.columns.length && this.columns.get(i) === ann && loaded.known[i] ? i : -1;
  }

  /**
   * Have `helper` rasterise the polygons of the annotations whose masks are
   * not known yet; `finish()` joins in and keeps the masks (as `rleAt` does).
   */
  rasterizeLater(helper: HelperThread): { finish(): void } {
    const c = this.columns;
    const table = c instanceof AnnotationTable ? c : null;
    // Each annotation with its image's size and its parts: coordinate ranges of the table, or polygons.
    const todo: { i: number; h: number; w: number; ranges: number[] | null; polygons: Polygon[] | null }[] = [];
    let total = 0;
    let nParts = 0;
    for (let i = 0; i < c.length; i++) {
      if (table && !table.odd.has(i)) {
        const ranges = table.polygonParts(i);
        if (ranges.length === 0 || this.rleByIndex.has(i)) continue;
        const img = this.imgs.get(table.imageIdOf(i));
        if (!img) continue;
        for (let k = 0; k < ranges.length; k += 2) total += ranges[k + 1]! - ranges[k]!;
        nParts += ranges.length / 2;
        todo.push({ i, h: img.height, w: img.width, ranges, polygons: null });
        continue;
      }
      const ann = c.get(i);
      const seg = ann.segmentation;
      const img = this.imgs.get(ann.image_id);
      if (!Array.isArray(seg) || !img || (table ? this.rleByIndex.has(i) : this.rleCache.has(ann))) continue;
      for (const p of seg as Polygon[]) total += p.length;
      nParts += seg.length;
      todo.push({ i, h: img.height, w: img.width, ranges: null, polygons: seg as Polygon[] });
    }
    const set: PolygonSet = {
      coords: new Float64Array(new SharedArrayBuffer(8 * total)),
      start: new Int32Array(new SharedArrayBuffer(4 * (nParts + 1))),
      size: new Int32Array(new SharedArrayBuffer(8 * nParts)),
    };
    let at = 0;
    let k = 0;
    const part = (h: number, w: number) => {
      set.start[k] = at;
      set.size[2 * k] = h;
      set.size[2 * k + 1] = w;
      k++;
    };
    for (const { h, w, ranges, polygons } of todo) {
      if (ranges) {
        for (let r = 0; r < ranges.length; r += 2) {
          part(h, w);
          table!.coords.copyTo(set.coords, ranges[r]!, ranges[r + 1]!, at);
          at += ranges[r + 1]! - ranges[r]!;
        }
      } else {
        for (const p of polygons!) {
          part(h, w);
          set.coords.set(p, at);
          at += p.length;
        }
      }
    }
    set.start[nParts] = at;
    const job = helper.rasterize(set);
    return {
      finish: () => {
        const counts = job.finish();
        let q = 0;
        for (const { i, h, w, ranges, polygons } of todo) {
          const n = ranges ? ranges.length / 2 : polygons!.length;
          const rles: Rle[] = [];
          for (let r = 0; r < n; r++) rles.push({ h, w, counts: counts[q++]! });
          const rle = rles.length === 1 ? rles[0]! : rleMerge(rles, false);
          if (table) this.rleByIndex.set(i, rle);
          else this.rleCache.set(c.get(i), rle);
        }
      },
    };
  }
}
