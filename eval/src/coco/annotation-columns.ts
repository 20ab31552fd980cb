import type { CocoAnnotation, Segmentation } from './types.js';

/** The numeric fields evaluation reads of every annotation. */
export type NumericField = 'id' | 'image_id' | 'category_id' | 'area' | 'iscrowd' | 'score';

/**
 * A dataset's annotations by index (file order), read field by field
 * without making their objects: how evaluation and the training loader
 * read ground truth of any size. A Coco read from a file holds them in
 * columns (annotation-table.ts); one made from objects reads the objects.
 */
export interface AnnotationColumns {
  readonly length: number;
  /**
   * Annotation i as an object with the values JSON.parse gives. From
   * columns it is a new object each call: Coco's `anns`, `loadAnns` and
   * `dataset.annotations` keep the ones they hand out.
   */
  get(i: number): CocoAnnotation;
  idOf(i: number): number;
  imageIdOf(i: number): number;
  categoryIdOf(i: number): number;
  /** iscrowd, as truthiness. */
  isCrowd(i: number): boolean;
  /** The bbox written to out[at..at+4); false (nothing written) where there is none. */
  bboxInto(i: number, out: Float64Array | number[], at: number): boolean;
  /** The segmentation (polygons made anew from columns; an RLE as read), or undefined. */
  segmentation(i: number): Segmentation | undefined;
  /** One field of every annotation, as a Float64Array stores its value (missing: NaN; a missing score: 0, as evaluation takes it). */
  numbers(field: NumericField): Float64Array;
  /** iscrowd's truthiness for every annotation. */
  crowdFlags(): Uint8Array;
  /** Every bbox (4 numbers each; has[i] = 0 where annotation i has no 4-number bbox). */
  boxes(): { xywh: Float64Array; has: Uint8Array };
}

/** AnnotationColumns over annotation objects. */
export class ObjectColumns implements AnnotationColumns {
  constructor(readonly anns: CocoAnnotation[]) {}

  get length(): number {
    return this.anns.length;
  }

  get(i: number): CocoAnnotation {
    return this.anns[i]!;
  }

  idOf(i: number): number {
    return this.anns[i]!.id;
  }

  imageIdOf(i: number): number {
    return this.anns[i]!.image_id;
  }

  categoryIdOf(i: number): number {
    return this.anns[i]!.category_id;
  }

  isCrowd(i: number): boolean {
    return Boolean(this.anns[i]!.iscrowd);
  }

  bboxInto(i: number, out: Float64Array | number[], at: number): boolean {
    const b = this.anns[i]!.bbox;
    if (!b || b.length !== 4) return false;
    out[at] = b[0]!;
    out[at + 1] = b[1]!;
    out[at + 2] = b[2]!;
    out[at + 3] = b[3]!;
    return true;
  }

  segmentation(i: number): Segmentation | undefined {
    return this.anns[i]!.segmentation;
  }

  numbers(field: NumericField): Float64Array {
    // A plain loop: TypedArray.from with a map function is several times slower.
    const anns = this.anns;
    const out = new Float64Array(anns.length);
    if (field === 'score') for (let i = 0; i < anns.length; i++) out[i] = anns[i]!.score ?? 0;
    else for (let i = 0; i < anns.length; i++) out[i] = anns[i]![field] as number;
    return out;
  }

  crowdFlags(): Uint8Array {
    const anns = this.anns;
    const out = new Uint8Array(anns.length);
    for (let i = 0; i < anns.length; i++) out[i] = anns[i]!.iscrowd ? 1 : 0;
    return out;
  }

  boxes(): { xywh: Float64Array; has: Uint8Array } {
    const anns = this.anns;
    const xywh = new Float64Array(4 * anns.length);
    const has = new Uint8Array(anns.length);
    for (let i = 0; i < anns.length; i++) if (this.bboxInto(i, xywh, 4 * i)) has[i] = 1;
    return { xywh, has };
  }
}
