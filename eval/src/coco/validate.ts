import { EvalInputError } from '../errors.js';
import { rleFrString, rleStringSummary, type Rle, type RleStringSummary } from './rle.js';
import { AnnKey, type AnnotationTable } from './annotation-table.js';
import type { CocoDataset } from './types.js';

/**
 * Structural checks of COCO files, each failure naming the file, the entry
 * index and the field — instead of a crash deep inside evaluation.
 */

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function checkBox(v: unknown, file: string, index: number, field = 'bbox'): number[] {
  if (!Array.isArray(v) || v.length !== 4 || !v.every(isNum)) throw new EvalInputError('must be 4 finite numbers [x, y, width, height]', file, index, field);
  return v;
}

/**
 * Validate a segmentation (polygons or RLE) of an annotation. A compressed
 * RLE is parsed to check it, and the parsed form returned for reuse.
 */
export function checkSegmentation(seg: unknown, file: string, index: number): Rle | undefined {
  if (Array.isArray(seg)) {
    seg.forEach((poly, j) => {
      if (!Array.isArray(poly) || !poly.every(isNum)) throw new EvalInputError('a polygon must be a list of numbers', file, index, `segmentation[${j}]`);
      if (poly.length < 6) throw new EvalInputError(`a polygon needs at least 6 numbers (3 points), got ${poly.length}`, file, index, `segmentation[${j}]`);
    });
    return undefined;
  }
  const [r, h, w] = checkRleObject(seg, file, index);
  if (typeof r.counts === 'string') {
    let total = 0;
    let parsed: Rle;
    try {
      parsed = rleFrString(r.counts, h, w);
      for (const c of parsed.counts) total += c;
    } catch (err) {
      throw new EvalInputError(`malformed RLE string (${(err as Error).message})`, file, index, 'segmentation.counts');
    }
    if (total !== h * w) throw new EvalInputError(`RLE counts sum to ${total}, expected ${h}x${w} = ${h * w}`, file, index, 'segmentation.counts');
    return parsed;
  } else if (Array.isArray(r.counts)) {
    if (!r.counts.every((c) => Number.isInteger(c) && (c as number) >= 0)) throw new EvalInputError('RLE counts must be non-negative integers', file, index, 'segmentation.counts');
    const total = (r.counts as number[]).reduce((a, b) => a + b, 0);
    if (total !== h * w) throw new EvalInputError(`RLE counts sum to ${total}, expected ${h * w}`, file, index, 'segmentation.counts');
    return { h, w, counts: Uint32Array.from(r.counts as number[]) };
  } else {
    throw new EvalInputError('RLE counts must be a string or a list of integers', file, index, 'segmentation.counts');
  }
}

function checkRleObject(seg: unknown, file: string, index: number): [{ size?: unknown; counts?: unknown }, number, number] {
  if (typeof seg !== 'object' || seg === null) throw new EvalInputError('must be a list of polygons or an RLE object', file, index, 'segmentation');
  const r = seg as { size?: unknown; counts?: unknown };
  if (!Array.isArray(r.size) || r.size.length !== 2 || !r.size.every((s) => Number.isInteger(s) && (s as number) >= 0)) {
    throw new EvalInputError('RLE size must be [height, width]', file, index, 'segmentation.size');
  }
  return [r, r.size[0] as number, r.size[1] as number];
}

/**
 * Validate a segmentation result (compressed RLE only, as pycocotools'
 * loadRes requires) and summarise it — area and box — in one pass, without
 * decoding its runs.
 */
export function checkResultRle(seg: unknown, file: string, index: number): RleStringSummary {
  if (Array.isArray(seg)) throw new EvalInputError('results must use compressed RLE ({size, counts: string}), not polygons', file, index, 'segmentation');
  const [r, h, w] = checkRleObject(seg, file, index);
  if (typeof r.counts !== 'string') {
    throw new EvalInputError(Array.isArray(r.counts) ? 'results must use compressed RLE (counts as a string)' : 'RLE counts must be a string or a list of integers', file, index, 'segmentation.counts');
  }
  let summary: RleStringSummary;
  try {
    summary = rleStringSummary(r.counts, h, w);
  } catch (err) {
    throw new EvalInputError(`malformed RLE string (${(err as Error).message})`, file, index, 'segmentation.counts');
  }
  checkRleTotal(summary.total, h, w, file, index);
  return summary;
}

/** A result mask's runs must cover its image exactly. */
export function checkRleTotal(total: number, h: number, w: number, file: string, index: number): void {
  if (total !== h * w) throw new EvalInputError(`RLE counts sum to ${total}, expected ${h}x${w} = ${h * w}`, file, index, 'segmentation.counts');
}

/** The top-level shape of an instances file: an object with lists of images, annotations and categories (in that order of checking). */
export function checkTopLevel(data: unknown, file: string, isList: (v: unknown) => boolean = Array.isArray): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new EvalInputError('not a COCO instances file (expected an object with images, annotations, categories)', file);
  }
  const d = data as Record<string, unknown>;
  for (const key of ['images', 'annotations', 'categories']) {
    if (!isList(d[key])) throw new EvalInputError(`not a COCO instances file: "${key}" must be a list`, file, undefined, key);
  }
  return d;
}

/** Check every image (id, size, unique ids); returns their ids. */
export function checkImages(images: readonly unknown[], file: string): Set<number> {
  const imageIds = new Set<number>();
  images.forEach((value, i) => {
    const im = value as Record<string, unknown>;
    if (typeof im !== 'object' || im === null) throw new EvalInputError('must be an object', file, i, 'images');
    if (!isNum(im.id)) throw new EvalInputError('id must be a number', file, i, 'images.id');
    if (!Number.isInteger(im.width) || !Number.isInteger(im.height)) throw new EvalInputError('width and height must be integers', file, i, 'images.width/height');
    if (imageIds.has(im.id)) throw new EvalInputError(`duplicate image id ${im.id}`, file, i, 'images.id');
    imageIds.add(im.id);
  });
  return imageIds;
}

export function checkCategories(categories: readonly unknown[], file: string): void {
  categories.forEach((value, i) => {
    const c = value as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || !isNum(c.id)) throw new EvalInputError('id must be a number', file, i, 'categories.id');
  });
}

/** Check annotation entry i. */
export function checkAnnotation(value: unknown, file: string, i: number, imageIds: ReadonlySet<number>): void {
  const a = value as Record<string, unknown>;
  if (typeof a !== 'object' || a === null) throw new EvalInputError('must be an object', file, i, 'annotations');
  if (!isNum(a.id)) throw new EvalInputError('id must be a number', file, i, 'annotations.id');
  if (!isNum(a.image_id)) throw new EvalInputError('image_id must be a number', file, i, 'annotations.image_id');
  if (!imageIds.has(a.image_id)) throw new EvalInputError(`image_id ${a.image_id} is not in images`, file, i, 'annotations.image_id');
  if (!isNum(a.category_id)) throw new EvalInputError('category_id must be a number', file, i, 'annotations.category_id');
  if (a.bbox !== undefined) checkBox(a.bbox, file, i, 'annotations.bbox');
  if (a.area !== undefined && !isNum(a.area)) throw new EvalInputError('area must be a number', file, i, 'annotations.area');
  if (a.segmentation !== undefined) checkSegmentation(a.segmentation, file, i);
}

/** Validate a COCO instances file's structure; returns it typed. */
export function checkDataset(data: unknown, file: string): CocoDataset {
  const d = checkTopLevel(data, file);
  const imageIds = checkImages(d.images as unknown[], file);
  checkCategories(d.categories as unknown[], file);
  (d.annotations as unknown[]).forEach((a, i) => checkAnnotation(a, file, i, imageIds));
  return data as CocoDataset;
}

/**
 * checkAnnotation of every annotation in a table, on its columns; the first
 * one that fails is made into its object and checked as such, so that the
 * error is the one checkDataset gives.
 */
export function checkTable(t: AnnotationTable, file: string, imageIds: ReadonlySet<number>): void {
  // Coordinates outside a float's range or polygons of fewer than 3 points are rare: look for any first.
  const coordsFinite = t.coords.allFinite();
  let shortPart = false;
  for (let j = 0, start = 0; j < t.partEnds.length && !shortPart; j++) {
    const end = t.partEnds.get(j);
    shortPart = end - start < 6;
    start = end;
  }
  const finite = Number.isFinite;
  const need = (1 << AnnKey.Id) | (1 << AnnKey.ImageId) | (1 << AnnKey.CategoryId);
  for (let i = 0; i < t.length; i++) {
    const layout = t.layoutOf.get(i);
    // Kept whole as parsed: checked as such.
    if (layout === 0) {
      checkAnnotation(t.get(i), file, i, imageIds);
      continue;
    }
    const has = t.layouts[layout]!.present;
    const imageId = t.imageId.get(i);
    let good = (has & need) === need && finite(t.id.get(i)) && finite(imageId) && imageIds.has(imageId) && finite(t.categoryId.get(i));
    if (good && has & (1 << AnnKey.Bbox)) for (let k = 0; k < 4; k++) good &&= finite(t.bbox.get(4 * i + k));
    if (good && has & (1 << AnnKey.Area)) good = finite(t.area.get(i));
    if (good && has & (1 << AnnKey.Segmentation)) {
      if (t.segValues.has(i)) checkSegmentation(t.segValues.get(i), file, i);
      else if (!coordsFinite || shortPart) good = polygonsGood(t, i);
    }
    if (!good) {
      checkAnnotation(t.get(i), file, i, imageIds);
      throw new Error(`annotation ${i} of ${file} failed a check on its columns but not on its object`);
    }
  }
}

function polygonsGood(t: AnnotationTable, i: number): boolean {
  const parts = t.polygonParts(i);
  for (let k = 0; k < parts.length; k += 2) {
    if (parts[k + 1]! - parts[k]! < 6) return false;
    for (let j = parts[k]!; j < parts[k + 1]!; j++) if (!Number.isFinite(t.coords.get(j))) return false;
  }
  return true;
}
