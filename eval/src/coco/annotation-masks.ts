import { EvalInputError } from '../errors.js';
import type { PolygonSet } from './helper-tasks.js';
import type { HelperThread } from './helper-thread.js';
import { rleFrPoly, rleFrString, rleMerge, rleToBbox } from './rle.js';
import { BytesRle, type CountsArena } from './rle-bytes.js';
import type { Bbox, Rle } from './rle-types.js';
import type { CocoAnnotation, CocoDataset, CocoImage, Polygon } from './types.js';

/**
 * The masks of a dataset's annotations (behind Coco's annToRle, maskBox
 * and their variants): made from the segmentation on demand, kept where
 * that pays, and — for results read from a file — boxes found while
 * loading.
 */
export class AnnotationMasks {
  /** Parsed RLEs, filled lazily by `rle`. */
  private readonly rleCache = new WeakMap<CocoAnnotation, Rle>();
  /** Tight boxes of the masks, filled by `box`. */
  private readonly boxCache = new WeakMap<CocoAnnotation, Bbox>();
  /** Of results: the masks' tight boxes found while loading, by list index (4 numbers each). */
  private loaded?: { boxes: Float64Array; known: Uint8Array };

  constructor(
    private readonly dataset: CocoDataset,
    private readonly imgs: ReadonlyMap<number, CocoImage>,
    private readonly source: string,
  ) {}

  /** Coco.annToRle: the mask, kept. */
  rle(ann: CocoAnnotation): Rle {
    let rle = this.rleCache.get(ann);
    if (!rle) this.rleCache.set(ann, (rle = this.rleOnce(ann)));
    return rle;
  }

  /** Coco.annToRleOnce: the mask, not kept. */
  rleOnce(ann: CocoAnnotation): Rle {
    const img = this.imgs.get(ann.image_id);
    if (!img) throw new EvalInputError(`annotation ${ann.id}: image ${ann.image_id} is unknown`, this.source);
    const { height: h, width: w } = img;
    const seg = ann.segmentation;
    let rle: Rle;
    if (seg === undefined) {
      if (ann.bbox.length !== 4) throw new EvalInputError(`annotation ${ann.id} has no segmentation`, this.source);
      const [x, y, bw, bh] = ann.bbox as [number, number, number, number];
      rle = rleFrPoly([x, y, x, y + bh, x + bw, y + bh, x + bw, y], h, w);
    } else if (Array.isArray(seg)) rle = seg.length === 1 ? rleFrPoly(seg[0] as Polygon, h, w) : rleMerge((seg as Polygon[]).map((p) => rleFrPoly(p, h, w)), false);
    else if (seg instanceof BytesRle) rle = seg.toRle();
    else if (typeof seg.counts === 'string') rle = rleFrString(seg.counts, seg.size[0], seg.size[1]);
    else rle = { h: seg.size[0], w: seg.size[1], counts: Uint32Array.from(seg.counts) };
    return rle;
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

  /** Keep the boxes found while loading results: annotation i's (where known[i]) at boxes[4i..4i+4). */
  keepLoadedBoxes(boxes: Float64Array, known: Uint8Array): void {
    this.loaded = { boxes, known };
  }

  /** Where a result's mask box found while loading is (results have ids 1..N in list order), or -1. */
  private loadedBoxIndex(ann: CocoAnnotation): number {
    const loaded = this.loaded;
    const i = ann.id - 1;
    return loaded && this.dataset.annotations[i] === ann && loaded.known[i] ? i : -1;
  }

  /**
   * Have `helper` rasterise the polygons of the annotations whose masks are
   * not known yet; `finish()` joins in and keeps the masks (as `rle` does).
   */
  rasterizeLater(helper: HelperThread): { finish(): void } {
    const anns: CocoAnnotation[] = [];
    const parts: [number[], number, number][] = [];
    for (const ann of this.dataset.annotations) {
      const seg = ann.segmentation;
      const img = this.imgs.get(ann.image_id);
      if (!Array.isArray(seg) || !img || this.rleCache.has(ann)) continue;
      anns.push(ann);
      for (const p of seg as Polygon[]) parts.push([p, img.height, img.width]);
    }
    const total = parts.reduce((n, [p]) => n + p.length, 0);
    const set: PolygonSet = {
      coords: new Float64Array(new SharedArrayBuffer(8 * total)),
      start: new Int32Array(new SharedArrayBuffer(4 * (parts.length + 1))),
      size: new Int32Array(new SharedArrayBuffer(8 * parts.length)),
    };
    let at = 0;
    parts.forEach(([p, h, w], i) => {
      set.coords.set(p, at);
      set.start[i] = at;
      set.size[2 * i] = h;
      set.size[2 * i + 1] = w;
      at += p.length;
    });
    set.start[parts.length] = at;
    const job = helper.rasterize(set);
    return {
      finish: () => {
        const counts = job.finish();
        let k = 0;
        for (const ann of anns) {
          const img = this.imgs.get(ann.image_id)!;
          const rles = (ann.segmentation as Polygon[]).map(() => ({ h: img.height, w: img.width, counts: counts[k++]! }));
          this.rleCache.set(ann, rles.length === 1 ? rles[0]! : rleMerge(rles, false));
        }
      },
    };
  }
}
