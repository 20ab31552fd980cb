// pycocotools' COCO class: one dataset's index and its whole query API (getAnnIds, loadAnns, annToRLE, …), kept in
// one file as pycocotools keeps it; reading files, results and masks live in their own modules beside it.
import { EvalInputError } from '../errors.js';
import { fileSize, readJson } from './json-file.js';
import { AnnotationMasks } from './annotation-masks.js';
import { rleDecode, type Bbox, type Rle } from './rle.js';
import type { CountsArena } from './rle-bytes.js';
import { loadResults, loadResultsFile, type LoadResOptions, type ResultsHost } from './results-loader.js';
import { checkCategories, checkDataset, checkImages, checkTable, checkTopLevel } from './validate.js';
import { ObjectColumns, type AnnotationColumns } from './annotation-columns.js';
import { AnnotationTable } from './annotation-table.js';
import { IdIndex, ImageIndex, OnDemandMap } from './annotation-index.js';
import { JsonSyntaxError, readDataset, type ParsedDataset } from './dataset-reader.js';
import { define } from './json-window.js';
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage } from './types.js';

export type { LoadResOptions } from './results-loader.js';

export interface AnnFilter {
  imgIds?: number[];
  catIds?: number[];
  areaRng?: [number, number];
  iscrowd?: boolean;
}

/** How `Coco.fromFile` reads an annotation file. */
export interface ReadAnnotationsOptions {
  /**
   * 'columns': the file's bytes are read a window at a time straight into
   * columns (files of any size; see dataset-reader.ts). 'json': the whole
   * file is parsed with JSON.parse into annotation objects (files under
   * 512 MiB: a JavaScript string holds no more). 'auto' (the default):
   * columns from 64 MiB on, below which JSON.parse is quicker to start.
   * All give the same dataset and the same errors.
   */
  reader?: 'auto' | 'columns' | 'json';
  /** Bytes the streaming reader reads at a time (16 MiB). */
  windowBytes?: number;
}

/** Files from this size on are read into columns by default. */
const COLUMNS_FROM_BYTES = 64 << 20;

/** Files up to this size that the streaming reader finds invalid are parsed again with JSON.parse, which words the error. */
const GENERAL_PARSE_BYTES = 256 << 20;

/**
 * A COCO-format dataset with pycocotools' index and queries. Ground truth
 * comes from `Coco.fromFile` / `new Coco(dataset)`; detections from
 * `gt.loadRes(results)`, which assigns ids and areas as pycocotools does.
 *
 * A Coco read from a large file holds its annotations in columns
 * (`columns`; see ReadAnnotationsOptions): `getAnnIds`, `loadAnns`, `imgToAnns.get(id)`, the masks and
 * evaluation read them without making every annotation's object. Objects
 * are made as they are asked for, once each (`anns`, `loadAnns`,
 * `getAnns`, `imgToAnns` and `dataset.annotations` hand out the same
 * ones). Reading `dataset.annotations` makes them all, and from then on
 * the Coco works on those objects as one made from a dataset does
 * (changes to them count).
 */
export class Coco {
  readonly imgs = new Map<number, CocoImage>();
  readonly cats = new Map<number, CocoCategory>();
  private data: CocoDataset;
  /** The annotations: their objects, or a file's columns until every object is made. */
  private cols: AnnotationColumns;
  /** Objects made of column annotations, by index. */
  private made = new Map<number, CocoAnnotation>();
  /** The annotation index (anns, imgToAnns, catToImgs), made on first use: evaluation does not need it. */
  private index?: { anns: Map<number, CocoAnnotation>; imgToAnns: Map<number, CocoAnnotation[]>; catToImgs: Map<number, number[]> };
  /** Annotation indices by image and by id, made on first use. */
  private byImage?: ImageIndex;
  private byId?: IdIndex;
  /** The annotations' masks and their boxes, made on demand. */
  private readonly masks: AnnotationMasks;
  /** Detections whose category is not in the GT categories (dropped by evaluation, as pycocotools). */
  unknownCategoryResults = 0;

  /**
   * A dataset of annotation objects; or (`table`, from `fromFile`) a
   * file's top-level object whose `annotations` is the table.
   */
  constructor(
    dataset: CocoDataset,
    readonly source = '<memory>',
    table?: AnnotationTable,
  ) {
    this.data = table ? this.withColumnAnnotations(dataset as unknown as Record<string, unknown>, table) : dataset;
    for (const img of dataset.images) this.imgs.set(img.id, img);
    for (const cat of dataset.categories) this.cats.set(cat.id, cat);
    this.cols = table ?? new ObjectColumns(dataset.annotations);
    this.masks = new AnnotationMasks(this.cols, this.imgs, source);
  }

  /** The file's top-level object, its `annotations` made on first read. */
  private withColumnAnnotations(top: Record<string, unknown>, table: AnnotationTable): CocoDataset {
    const data: Record<string, unknown> = {};
    for (const key of Object.keys(top)) {
      if (key !== 'annotations' || top[key] !== table) define(data, key, top[key]);
      else {
        Object.defineProperty(data, key, {
          get: () => this.makeAllObjects(),
          set: (v: CocoAnnotation[]) => this.useObjects(v),
          enumerable: true,
          configurable: true,
        });
      }
    }
    return data as unknown as CocoDataset;
  }

  /** The dataset (pycocotools' `dataset`). Of a file's Coco, `dataset.annotations` makes every annotation's object. */
  get dataset(): CocoDataset {
    return this.data;
  }

  /**
   * The annotations field by field, by index in file order (see
   * AnnotationColumns): what reads ground truth of any size.
   */
  get columns(): AnnotationColumns {
    const c = this.cols;
    // dataset.annotations may have been replaced since.
    if (c instanceof ObjectColumns && c.anns !== this.data.annotations) this.useObjects(this.data.annotations);
    return this.cols;
  }

  /** Work on annotation objects from now on. */
  private useObjects(anns: CocoAnnotation[]): void {
    Object.defineProperty(this.data, 'annotations', { value: anns, writable: true, enumerable: true, configurable: true });
    this.cols = new ObjectColumns(anns);
    this.masks.rebase(this.cols);
    this.made.clear();
    this.byImage = undefined;
    this.byId = undefined;
  }

  /** Every annotation's object (made from the columns once), after which the Coco works on them. */
  private makeAllObjects(): CocoAnnotation[] {
    const c = this.cols;
    if (!(c instanceof AnnotationTable)) return this.data.annotations;
    const anns: CocoAnnotation[] = new Array(c.length);
    for (let i = 0; i < c.length; i++) anns[i] = this.objectAt(i);
    this.useObjects(anns);
    return anns;
  }

  /** Annotation i's object: one per annotation, kept once made. */
  private objectAt(i: number): CocoAnnotation {
    const c = this.cols;
    if (!(c instanceof AnnotationTable)) return c.get(i);
    let o = this.made.get(i);
    if (!o) this.made.set(i, (o = c.get(i)));
    return o;
  }

  get anns(): Map<number, CocoAnnotation> {
    return this.indexed().anns;
  }

  get imgToAnns(): Map<number, CocoAnnotation[]> {
    return this.indexed().imgToAnns;
  }

  get catToImgs(): Map<number, number[]> {
    return this.indexed().catToImgs;
  }

  private indexed(): NonNullable<Coco['index']> {
    if (this.index) return this.index;
    const c = this.columns;
    if (c instanceof AnnotationTable) return (this.index = this.columnIndex(c));
    const index: NonNullable<Coco['index']> = { anns: new Map(), imgToAnns: new Map(), catToImgs: new Map() };
    for (const ann of this.dataset.annotations) {
      index.anns.set(ann.id, ann);
      let list = index.imgToAnns.get(ann.image_id);
      if (!list) index.imgToAnns.set(ann.image_id, (list = []));
      list.push(ann);
      let imgs = index.catToImgs.get(ann.category_id);
      if (!imgs) index.catToImgs.set(ann.category_id, (imgs = []));
      imgs.push(ann.image_id);
    }
    return (this.index = index);
  }

  /** The index over columns: anns and imgToAnns make their entries on demand. */
  private columnIndex(c: AnnotationTable): NonNullable<Coco['index']> {
    const anns = new OnDemandMap<CocoAnnotation>(
      (id) => {
        const i = this.indexOfId(id);
        return i < 0 ? undefined : this.objectAt(i);
      },
      (_made, put) => {
        for (let i = 0; i < this.cols.length; i++) put(this.cols.idOf(i), this.objectAt(i));
      },
    );
    const imgToAnns = new OnDemandMap<CocoAnnotation[]>(
      (imgId) => {
        const idx = this.imgToAnnIndices(imgId);
        return idx.length === 0 ? undefined : Array.from(idx, (i) => this.objectAt(i));
      },
      (made, put) => {
        // In the order of each image's first annotation, as the index of objects has them; lists handed out stay the ones.
        const lists = new Map<number, CocoAnnotation[]>();
        for (let i = 0; i < this.cols.length; i++) {
          const id = this.cols.imageIdOf(i);
          let list = lists.get(id);
          if (!list) lists.set(id, (list = []));
          list.push(this.objectAt(i));
        }
        for (const [id, list] of lists) put(id, made(id) ?? list);
      },
    );
    const catToImgs = new Map<number, number[]>();
    for (let i = 0; i < c.length; i++) {
      const cat = c.categoryIdOf(i);
      let imgs = catToImgs.get(cat);
      if (!imgs) catToImgs.set(cat, (imgs = []));
      imgs.push(c.imageIdOf(i));
    }
    return { anns, imgToAnns, catToImgs };
  }

  /** The index of the (last) annotation with this id, or -1. */
  private indexOfId(id: number): number {
    this.byId ??= new IdIndex(this.columns);
    return this.byId.find(id);
  }

  /** Indices of the image's annotations, in file order (empty for an image without any, or an unknown one). */
  imgToAnnIndices(imgId: number): Int32Array {
    this.byImage ??= new ImageIndex(this.columns, this.imgs.keys());
    return this.byImage.of(imgId);
  }

  /** Load and validate a COCO instances JSON file (see ReadAnnotationsOptions). */
  static fromFile(path: string, options: ReadAnnotationsOptions = {}): Coco {
    const reader = options.reader ?? 'auto';
    if (reader === 'json' || (reader === 'auto' && fileSize(path) < COLUMNS_FROM_BYTES)) return new Coco(checkDataset(readJson(path), path), path);
    let parsed: ParsedDataset | null;
    try {
      parsed = readDataset({ path }, { windowBytes: options.windowBytes });
    } catch (err) {
      if (err instanceof JsonSyntaxError) {
        // JSON.parse words the error where it can hold the file (and, were it to accept it, its reading stands).
        if (fileSize(path) <= GENERAL_PARSE_BYTES) return new Coco(checkDataset(readJson(path), path), path);
        throw new EvalInputError(`invalid JSON (${err.message})`, path);
      }
      if ((err as NodeJS.ErrnoException).code !== undefined && !(err instanceof EvalInputError)) throw new EvalInputError(`cannot read (${(err as NodeJS.ErrnoException).code})`, path);
      throw err;
    }
    if (!parsed) {
      // Not an object at the top: checkDataset says so (or JSON.parse that it is not JSON).
      if (fileSize(path) <= GENERAL_PARSE_BYTES) return new Coco(checkDataset(readJson(path), path), path);
      throw new EvalInputError('not a COCO instances file (expected an object with images, annotations, categories)', path);
    }
    return Coco.fromParsed(parsed, path);
  }

  /** A Coco of a file read by readDataset, validated as checkDataset validates objects. */
  static fromParsed(parsed: ParsedDataset, file: string): Coco {
    const top = checkTopLevel(parsed.top, file, (v) => Array.isArray(v) || v instanceof AnnotationTable);
    const imageIds = checkImages(top.images as unknown[], file);
    checkCategories(top.categories as unknown[], file);
    checkTable(parsed.table!, file, imageIds);
    return new Coco(top as unknown as CocoDataset, file, parsed.table!);
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
    const c = this.columns;
    if (c instanceof AnnotationTable) return Array.from(this.filteredIndices(c, filter), (i) => c.idOf(i));
    return this.getAnns(filter).map((a) => a.id);
  }

  getAnns(filter: AnnFilter = {}): CocoAnnotation[] {
    const c = this.columns;
    if (c instanceof AnnotationTable) return Array.from(this.filteredIndices(c, filter), (i) => this.objectAt(i));
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

  /** getAnns on columns: the indices of the annotations it returns. */
  private filteredIndices(c: AnnotationTable, filter: AnnFilter): number[] {
    let idx: number[] = [];
    if (filter.imgIds && filter.imgIds.length > 0) for (const id of filter.imgIds) idx.push(...this.imgToAnnIndices(id));
    else idx = Array.from({ length: c.length }, (_, i) => i);
    if (filter.catIds && filter.catIds.length > 0) {
      const cats = new Set(filter.catIds);
      idx = idx.filter((i) => cats.has(c.categoryIdOf(i)));
    }
    if (filter.areaRng) {
      const [lo, hi] = filter.areaRng;
      const area = c.numbers('area');
      idx = idx.filter((i) => area[i]! > lo && area[i]! < hi);
    }
    if (filter.iscrowd !== undefined) idx = idx.filter((i) => c.isCrowd(i) === filter.iscrowd);
    return idx;
  }

  loadAnns(ids: number[]): CocoAnnotation[] {
    const c = this.columns;
    return ids.map((id) => {
      let a: CocoAnnotation | undefined;
      if (c instanceof AnnotationTable) {
        const i = this.indexOfId(id);
        a = i < 0 ? undefined : this.objectAt(i);
      } else a = this.anns.get(id);
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

  /** @internal Annotation i's mask (kept): evaluation's way to the GT masks. */
  rleAt(i: number): Rle {
    return this.masks.rleAt(i);
  }

  /** @internal Annotation i's mask; one read from a results file decoded into `arena`. */
  rleInAt(i: number, arena: CountsArena): Rle {
    return this.masks.rleInAt(i, arena);
  }

  /** @internal The tight box of annotation i's mask, written to out[at..at+4). */
  maskBoxIntoAt(i: number, out: Float64Array, at: number): void {
    this.masks.boxIntoAt(i, out, at);
  }

  /**
   * The annotation's mask as an RLE (pycocotools' annToRLE): polygons are
   * rasterised part by part and unioned; uncompressed RLE is converted;
   * compressed RLE is parsed; a box result without segmentation becomes its
   * box polygon (as loadRes makes it in pycocotools).
   */
  annToRle(ann: CocoAnnotation): Rle {
    return this.masks.rle(ann);
  }

  /**
   * annToRle without keeping the result: evaluation needs each mask once,
   * and caching 10^5 of them would cost more time and memory than it saves.
   */
  annToRleOnce(ann: CocoAnnotation): Rle {
    return this.masks.rleOnce(ann);
  }

  /**
   * annToRleOnce, but a mask read from a results file has its counts
   * decoded into `arena` (valid until the arena is reset): evaluation needs
   * each detection's runs only while it compares them.
   */
  annToRleIn(ann: CocoAnnotation, arena: CountsArena): Rle {
    return this.masks.rleIn(ann, arena);
  }

  /**
   * The tight box of the annotation's mask (rleToBbox of annToRle), which is
   * what pycocotools' mask IoU tests for overlap — not the `bbox` field.
   */
  maskBox(ann: CocoAnnotation): Bbox {
    return this.masks.box(ann);
  }

  /** maskBox written to out[at..at+4) (no array made for results, whose boxes were found while loading). */
  maskBoxInto(ann: CocoAnnotation, out: Float64Array, at: number): void {
    this.masks.boxInto(ann, out, at);
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
    return loadResults(this.resultsHost(), results, file);
  }

  /**
   * loadRes from a results JSON file: one of the usual shape is read from
   * its bytes, any other parsed with JSON.parse; both give the same
   * annotations and errors (see results-loader.ts).
   */
  loadResFile(path: string, options: LoadResOptions = {}): Coco {
    return loadResultsFile(this.resultsHost(), path, options);
  }

  /** This ground truth as results-loader.ts uses it: its images and categories, and the results' Coco over them. */
  private resultsHost(): ResultsHost<Coco> {
    return {
      imgs: this.imgs,
      cats: this.cats,
      resultsCoco: (anns, file, unknownCats, loaded) => {
        const res = new Coco(
          { info: this.dataset.info, images: this.dataset.images, categories: this.dataset.categories, annotations: anns },
          file,
        );
        res.unknownCategoryResults = unknownCats;
        if (loaded) res.masks.keepLoadedBoxes(loaded.boxes, loaded.known);
        return res;
      },
      rasterizeLater: (helper) => this.masks.rasterizeLater(helper),
    };
  }
}
