import { existsSync } from 'node:fs';
import { join, isAbsolute } from 'node:path';
import { Coco, type AnnotationColumns, type CocoImage, type ReadAnnotationsOptions, type Segmentation } from '@densekit/eval';
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

function maskOf(seg: Segmentation | undefined): InstanceMask | undefined {
  if (seg === undefined) return undefined;
  if (Array.isArray(seg)) return seg.length > 0 ? { kind: 'polygons', polygons: seg } : undefined;
  return { kind: 'rle', rle: rleFromCompressed(seg.size, seg.counts) };
}

/**
 * Objects365's file names, `images/v1/patch8/objects365_v1_00420917.jpg`,
 * name the images as they lie in the release's archives; unpacked (as
 * mmdetection and detectron2 expect them) they are `train/patch8/…`.
 */
const OBJECTS365_NAME = /^images\/v\d+\/(patch\d+\/[^/]+)$/;

/**
 * An image's file name: `file_name`, or for LVIS (whose images have none)
 * the last two parts of `coco_url`, `train2017/000000391895.jpg`, as
 * detectron2 and mmdetection take them (LVIS's image folder is COCO's).
 */
function fileNameOf(img: CocoImage): string | undefined {
  if (typeof img.file_name === 'string') return img.file_name;
  if (typeof img.coco_url === 'string') return img.coco_url.split('/').slice(-2).join('/');
  return undefined;
}

/**
 * How file names resolve against the image folder: as they are (an
 * absolute name, or joined to the folder), except Objects365's
 * `images/vN/patchM/name`, which is `patchM/name` in the folder — unless
 * the folder holds the first such image under its full name.
 */
function resolver(imagesDir: string, images: readonly CocoImage[]): (name: string) => string {
  const first = images.find((im) => typeof im.file_name === 'string' && OBJECTS365_NAME.test(im.file_name));
  const short = first !== undefined && !existsSync(join(imagesDir, first.file_name!));
  return (name) => {
    if (isAbsolute(name)) return name;
    const m = short ? OBJECTS365_NAME.exec(name) : null;
    return join(imagesDir, m ? m[1]! : name);
  };
}

/** Per annotation: its contiguous class, or -1 where it is no training object (a crowd region, an empty box). */
function trainingClasses(cols: AnnotationColumns, classOf: Map<number, number>, file: string): Int16Array | Int32Array {
  const n = cols.length;
  const cls = classOf.size < 32767 ? new Int16Array(n) : new Int32Array(n);
  const box = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    cls[i] = -1;
    if (cols.isCrowd(i)) continue;
    const cat = cols.categoryIdOf(i);
    const ci = classOf.get(cat);
    if (ci === undefined) throw new DensekitError(`annotation ${cols.idOf(i)} names category ${cat}, which is not in categories`, { file, key: 'annotations.category_id' });
    if (!cols.bboxInto(i, box, 0)) throw new DensekitError(`annotation ${cols.idOf(i)} has no bbox`, { file, key: 'annotations.bbox' });
    if (box[2]! > 0 && box[3]! > 0) cls[i] = ci;
  }
  return cls;
}

/**
 * An image of a dataset read into columns: its objects are made from them
 * each time they are asked for (a loader asks once per sample), so that
 * the dataset holds no object per annotation.
 */
class ColumnImageRecord implements ImageRecord {
  constructor(
    private readonly set: ColumnDataset,
    private readonly image: CocoImage,
  ) {}

  get imageId(): number {
    return this.image.id;
  }

  get file(): string {
    return this.set.resolve(fileNameOf(this.image)!);
  }

  get width(): number {
    return this.image.width;
  }

  get height(): number {
    return this.image.height;
  }

  get objects(): ObjectRecord[] {
    return this.set.objects(this.image.id);
  }
}

class ColumnDataset {
  constructor(
    private readonly coco: Coco,
    private readonly cls: Int16Array | Int32Array,
    readonly resolve: (name: string) => string,
  ) {}

  /** How many training objects the image has. */
  count(imageId: number): number {
    let n = 0;
    for (const i of this.coco.imgToAnnIndices(imageId)) if (this.cls[i]! >= 0) n++;
    return n;
  }

  objects(imageId: number): ObjectRecord[] {
    const cols = this.coco.columns;
    const out: ObjectRecord[] = [];
    const b = new Float64Array(4);
    for (const i of this.coco.imgToAnnIndices(imageId)) {
      const ci = this.cls[i]!;
      if (ci < 0) continue;
      cols.bboxInto(i, b, 0);
      out.push({ box: [b[0]!, b[1]!, b[0]! + b[2]!, b[1]! + b[3]!], classIndex: ci, mask: maskOf(cols.segmentation(i)) });
    }
    return out;
  }
}

/**
 * Load a COCO-format instances file and index its images. Crowd regions are
 * left out of the training targets (as detectron2); images without
 * objects are dropped when `filterEmpty`. Errors name the file and entry.
 * Files of any size load (Objects365's 25 million boxes included): a
 * large file's annotations stay in columns (`reader`: see Coco.fromFile),
 * and each image's objects are made when a sample needs them.
 */
export function loadCocoDataset(annotations: string, imagesDir: string, opts: { filterEmpty?: boolean; name?: string; reader?: ReadAnnotationsOptions['reader'] } = {}): DetectionDataset {
  const coco = Coco.fromFile(annotations, { reader: opts.reader });
  const categoryIds = [...coco.cats.keys()].sort((a, b) => a - b);
  if (categoryIds.length === 0) throw new DensekitError('the dataset lists no categories', { file: annotations, key: 'categories' });
  const images = coco.dataset.images;
  const set = new ColumnDataset(coco, trainingClasses(coco.columns, new Map(categoryIds.map((id, i) => [id, i])), annotations), resolver(imagesDir, images));
  const records: ImageRecord[] = [];
  for (const img of images) {
    if (fileNameOf(img) === undefined) throw new DensekitError(`image ${img.id} has no file_name (nor coco_url)`, { file: annotations, key: 'images.file_name' });
    if (opts.filterEmpty && set.count(img.id) === 0) continue;
    records.push(new ColumnImageRecord(set, img));
  }
  return { name: opts.name ?? annotations, records, categoryIds, categoryNames: categoryIds.map((id) => coco.cats.get(id)!.name), annotationFile: annotations };
}
