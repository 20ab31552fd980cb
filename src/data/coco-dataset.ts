import { join, isAbsolute } from 'node:path';
import { Coco, type CocoAnnotation } from '@densekit/eval';
import { DensekitError } from '../util/errors.js';
import { rleFromCompressed, type InstanceMask } from '../structures/masks.js';

/** One annotated object, in original image coordinates. */
export interface ObjectRecord {
  /** XYXY */
  box: [number, number, number, number];
  classIndex: number;
  mask?: InstanceMask;
}

/** One image of a detection dataset. */
export interface ImageRecord {
  imageId: number;
  file: string;
  width: number;
  height: number;
  objects: ObjectRecord[];
}

/** A COCO-format detection dataset (COCO, Objects365, LVIS layouts). */
export interface DetectionDataset {
  name: string;
  records: ImageRecord[];
  /** Contiguous class index → category id, sorted by id. */
  categoryIds: number[];
  categoryNames: string[];
  /** The annotation file (for evaluation). */
  annotationFile: string;
}

function maskOf(ann: CocoAnnotation): InstanceMask | undefined {
  const seg = ann.segmentation;
  if (seg === undefined) return undefined;
  if (Array.isArray(seg)) return seg.length > 0 ? { kind: 'polygons', polygons: seg } : undefined;
  return { kind: 'rle', rle: rleFromCompressed(seg.size, seg.counts) };
}

/**
 * Load a COCO-format instances file and index its images. Crowd regions are
 * left out of the training targets (as detectron2); images without
 * objects are dropped when `filterEmpty`. Errors name the file and entry.
 */
export function loadCocoDataset(annotations: string, imagesDir: string, opts: { filterEmpty?: boolean; name?: string } = {}): DetectionDataset {
  const coco = Coco.fromFile(annotations);
  const categoryIds = [...coco.cats.keys()].sort((a, b) => a - b);
  if (categoryIds.length === 0) throw new DensekitError('the dataset lists no categories', { file: annotations, key: 'categories' });
  const index = new Map(categoryIds.map((id, i) => [id, i]));
  const records: ImageRecord[] = [];
  for (const img of coco.dataset.images) {
    if (typeof img.file_name !== 'string') throw new DensekitError(`image ${img.id} has no file_name`, { file: annotations, key: 'images.file_name' });
    const objects: ObjectRecord[] = [];
    for (const ann of coco.imgToAnns.get(img.id) ?? []) {
      if (ann.iscrowd) continue;
      const ci = index.get(ann.category_id);
      if (ci === undefined) throw new DensekitError(`annotation ${ann.id} names category ${ann.category_id}, which is not in categories`, { file: annotations, key: 'annotations.category_id' });
      const [x, y, w, h] = ann.bbox as [number, number, number, number];
      if (!(w > 0 && h > 0)) continue;
      objects.push({ box: [x, y, x + w, y + h], classIndex: ci, mask: maskOf(ann) });
    }
    if (opts.filterEmpty && objects.length === 0) continue;
    records.push({ imageId: img.id, file: isAbsolute(img.file_name) ? img.file_name : join(imagesDir, img.file_name), width: img.width, height: img.height, objects });
  }
  return { name: opts.name ?? annotations, records, categoryIds, categoryNames: categoryIds.map((id) => coco.cats.get(id)!.name), annotationFile: annotations };
}
