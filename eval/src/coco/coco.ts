import { readFileSync } from 'node:fs';
import { EvalInputError } from '../errors.js';
import { rleDecode, rleFrPoly, rleFrString, rleMerge, rleToBbox, type Bbox, type Rle } from './rle.js';
import { checkBox, checkDataset, checkResultRle, isNum } from './validate.js';
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage, CocoResult, Polygon } from './types.js';

const EMPTY_BOX: number[] = [];

export interface AnnFilter {
  imgIds?: number[];
  catIds?: number[];
  areaRng?: [number, number];
  iscrowd?: boolean;
}

/** Read and parse a JSON file, naming the file in every error. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EvalInputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EvalInputError(`invalid JSON (${(err as Error).message})`, path);
  }
}

/**
 * A COCO-format dataset with pycocotools' index and queries. Ground truth
 * comes from `Coco.fromFile` / `new Coco(dataset)`; detections from
 * `gt.loadRes(results)`, which assigns ids and areas as pycocotools does.
 */
export class Coco {
  readonly imgs = new Map<number, CocoImage>();
  readonly cats = new Map<number, CocoCategory>();
  readonly anns = new Map<number, CocoAnnotation>();
  readonly imgToAnns = new Map<number, CocoAnnotation[]>();
  readonly catToImgs = new Map<number, number[]>();
  /** Parsed RLEs, filled lazily by `annToRle`. */
  private readonly rleCache = new WeakMap<CocoAnnotation, Rle>();
  /** Tight boxes of the masks, filled by `maskBox` (and eagerly for segm results). */
  private readonly maskBoxCache = new WeakMap<CocoAnnotation, Bbox>();
  /** Detections whose category is not in the GT categories (dropped by evaluation, as pycocotools). */
  unknownCategoryResults = 0;

  constructor(
    readonly dataset: CocoDataset,
    readonly source = '<memory>',
  ) {
    for (const img of dataset.images) this.imgs.set(img.id, img);
    for (const cat of dataset.categories) this.cats.set(cat.id, cat);
    for (const ann of dataset.annotations) {
      this.anns.set(ann.id, ann);
      let list = this.imgToAnns.get(ann.image_id);
      if (!list) this.imgToAnns.set(ann.image_id, (list = []));
      list.push(ann);
      let imgs = this.catToImgs.get(ann.category_id);
      if (!imgs) this.catToImgs.set(ann.category_id, (imgs = []));
      imgs.push(ann.image_id);
    }
  }

  /** Load and validate a COCO instances JSON file. */
  static fromFile(path: string): Coco {
    return new Coco(checkDataset(readJson(path), path), path);
  }

  /** Validate an in-memory dataset object. */
  static fromDataset(data: unknown, source = '<memory>'): Coco {
    return new Coco(checkDataset(data, source), source);
  }

  getImgIds(filter: { imgIds?: number[]; catIds?: number[] } = {}): number[] {
    let ids = filter.imgIds && filter.imgIds.length > 0 ? [...new Set(filter.imgIds)] : [...this.imgs.keys()];
    for (const c of filter.catIds ?? []) {
      const withCat = new Set(this.catToImgs.get(c) ?? []);
      ids = ids.filter((i) => withCat.has(i));
    }
    return ids;
  }

  getCatIds(): number[] {
    return [...this.cats.keys()];
  }

  /** Annotation ids, as pycocotools' getAnnIds (image order of `imgIds`, file order within an image). */
  getAnnIds(filter: AnnFilter = {}): number[] {
    return this.getAnns(filter).map((a) => a.id);
  }

  getAnns(filter: AnnFilter = {}): CocoAnnotation[] {
    let anns: CocoAnnotation[];
    if (filter.imgIds && filter.imgIds.length > 0) {
      anns = [];
      for (const id of filter.imgIds) anns.push(...(this.imgToAnns.get(id) ?? []));
    } else {
      anns = this.dataset.annotations;
    }
    if (filter.catIds && filter.catIds.length > 0) {
      const cats = new Set(filter.catIds);
      anns = anns.filter((a) => cats.has(a.category_id));
    }
    if (filter.areaRng) {
      const [lo, hi] = filter.areaRng;
      anns = anns.filter((a) => a.area > lo && a.area < hi);
    }
    if (filter.iscrowd !== undefined) anns = anns.filter((a) => Boolean(a.iscrowd) === filter.iscrowd);
    return anns;
  }

  loadAnns(ids: number[]): CocoAnnotation[] {
    return ids.map((id) => {
      const a = this.anns.get(id);
      if (!a) throw new EvalInputError(`no annotation with id ${id}`, this.source);
      return a;
    });
  }

  loadImgs(ids: number[]): CocoImage[] {
    return ids.map((id) => {
      const im = this.imgs.get(id);
      if (!im) throw new EvalInputError(`no image with id ${id}`, this.source);
      return im;
    });
  }

  loadCats(ids: number[]): CocoCategory[] {
    return ids.map((id) => {
      const c = this.cats.get(id);
      if (!c) throw new EvalInputError(`no category with id ${id}`, this.source);
      return c;
    });
  }

  /**
   * The annotation's mask as an RLE (pycocotools' annToRLE): polygons are
   * rasterised part by part and unioned; uncompressed RLE is converted;
   * compressed RLE is parsed; a box result without segmentation becomes its
   * box polygon (as loadRes makes it in pycocotools).
   */
  annToRle(ann: CocoAnnotation): Rle {
    const cached = this.rleCache.get(ann);
    if (cached) return cached;
    const img = this.imgs.get(ann.image_id);
    if (!img) throw new EvalInputError(`annotation ${ann.id}: image ${ann.image_id} is unknown`, this.source);
    const { height: h, width: w } = img;
    const seg = ann.segmentation;
    let rle: Rle;
    if (seg === undefined) {
      if (ann.bbox.length !== 4) throw new EvalInputError(`annotation ${ann.id} has no segmentation`, this.source);
      const [x, y, bw, bh] = ann.bbox as [number, number, number, number];
      rle = rleFrPoly([x, y, x, y + bh, x + bw, y + bh, x + bw, y], h, w);
    } else if (Array.isArray(seg)) rle = rleMerge((seg as Polygon[]).map((p) => rleFrPoly(p, h, w)), false);
    else if (typeof seg.counts === 'string') rle = rleFrString(seg.counts, seg.size[0], seg.size[1]);
    else rle = { h: seg.size[0], w: seg.size[1], counts: Uint32Array.from(seg.counts) };
    this.rleCache.set(ann, rle);
    return rle;
  }

  /**
   * The tight box of the annotation's mask (rleToBbox of annToRle), which is
   * what pycocotools' mask IoU tests for overlap — not the `bbox` field.
   */
  maskBox(ann: CocoAnnotation): Bbox {
    let box = this.maskBoxCache.get(ann);
    if (!box) this.maskBoxCache.set(ann, (box = rleToBbox(this.annToRle(ann))));
    return box;
  }

  /** The annotation's mask, column-major (index x*h + y). */
  annToMask(ann: CocoAnnotation): Uint8Array {
    return rleDecode(this.annToRle(ann));
  }

  /**
   * Detections as a dataset over this GT's images (pycocotools' loadRes):
   * ids 1..N in list order, iscrowd 0; bbox results get area w*h (and a box
   * polygon as segmentation); segm results get the mask area and, when
   * missing, the mask's box. Which branch applies is decided by the first
   * result's keys, as in pycocotools.
   */
  loadRes(results: unknown, file = '<results>'): Coco {
    if (!Array.isArray(results)) throw new EvalInputError('not a COCO results file: expected a JSON list of detections', file);
    if (results.length === 0) throw new EvalInputError('results file has no detections', file);
    const first = results[0] as Record<string, unknown>;
    const isBbox = typeof first === 'object' && first !== null && 'bbox' in first && !(Array.isArray(first.bbox) && first.bbox.length === 0);
    const isSegm = !isBbox && typeof first === 'object' && first !== null && 'segmentation' in first;
    if (!isBbox && !isSegm) throw new EvalInputError('results must carry "bbox" or "segmentation"', file, 0);
    const anns: CocoAnnotation[] = new Array(results.length);
    // Segm results are only summarised here; their runs are decoded on demand (annToRle).
    const maskBoxes: (Bbox | undefined)[] = new Array(results.length);
    let unknownCats = 0;
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as CocoResult & Record<string, unknown>;
      if (typeof r !== 'object' || r === null) throw new EvalInputError('must be an object', file, i);
      if (!isNum(r.image_id)) throw new EvalInputError('image_id must be a number', file, i, 'image_id');
      if (!this.imgs.has(r.image_id)) throw new EvalInputError(`image_id ${r.image_id} is not an image of the ground truth`, file, i, 'image_id');
      if (!isNum(r.category_id)) throw new EvalInputError('category_id must be a number', file, i, 'category_id');
      if (!this.cats.has(r.category_id)) unknownCats++;
      if (!isNum(r.score)) throw new EvalInputError('score must be a number', file, i, 'score');
      // A fixed object shape (not a spread of the input) keeps this loop fast on 10^6 results.
      const ann: CocoAnnotation = {
        id: i + 1,
        image_id: r.image_id,
        category_id: r.category_id,
        score: r.score,
        iscrowd: 0,
        area: 0,
        bbox: EMPTY_BOX,
        segmentation: r.segmentation,
      };
      if (isBbox) {
        const bb = checkBox(r.bbox, file, i);
        ann.bbox = bb;
        ann.area = bb[2]! * bb[3]!;
        // pycocotools gives box results a box polygon as segmentation; annToRle
        // derives it on demand instead of storing 10^6 polygons.
      } else {
        if (r.segmentation === undefined) throw new EvalInputError('missing segmentation', file, i, 'segmentation');
        const summary = checkResultRle(r.segmentation, file, i);
        maskBoxes[i] = summary.bbox;
        ann.area = summary.area;
        ann.bbox = r.bbox !== undefined ? checkBox(r.bbox, file, i) : summary.bbox;
      }
      anns[i] = ann;
    }
    const res = new Coco(
      { info: this.dataset.info, images: this.dataset.images, categories: this.dataset.categories, annotations: anns },
      file,
    );
    anns.forEach((a, i) => {
      const box = maskBoxes[i];
      if (box) res.maskBoxCache.set(a, box);
    });
    res.unknownCategoryResults = unknownCats;
    return res;
  }

  /** loadRes from a results JSON file. */
  loadResFile(path: string): Coco {
    return this.loadRes(readJson(path), path);
  }
}
