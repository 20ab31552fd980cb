import { EvalInputError } from '../errors.js';
import type { Buckets } from './cell-buckets.js';
import type { Coco } from './coco.js';
import type { IouType } from './params.js';
import { bbIou, refineRleIou, rleToBbox } from './rle.js';
import { CountsArena } from './rle-bytes.js';

/**
 * The IoU matrix of one evaluation cell, as pycocotools' computeIoU: box
 * IoU (bbox) or mask IoU (segm) of the cell's detections against its GT.
 * Evaluation asks for 10^4–10^5 of them, so each lives in a reused buffer.
 */

const NO_IOUS = new Float64Array(0);

/** `buf` if it holds n entries, else a new one twice as large (contents are not kept). */
function atLeast<T extends Int32Array | Float64Array | Uint8Array>(buf: T, n: number, make: (n: number) => T): T {
  return buf.length >= n ? buf : make(Math.max(n, buf.length * 2));
}

/** [x,y,w,h] of every annotation; an evaluated one (in a cell) must have a bbox. */
function boxesOf(coco: Coco, cells: Buckets): Float64Array {
  const cols = coco.columns;
  const { xywh, has } = cols.boxes();
  for (const i of cells.idx) if (!has[i]) throw new EvalInputError(`annotation ${cols.idOf(i)} has no bbox`, coco.source);
  return xywh;
}

export class CellIous {
  /** Where a cell's detection masks are decoded while they are compared. */
  private readonly arena = new CountsArena();
  /** [x,y,w,h] of every GT / detection in a cell (bbox evaluation only). */
  private readonly gtBox: Float64Array;
  private readonly dtBox: Float64Array;
  // Buffers reused across cells, grown as needed (an allocation per cell is what evaluation time would go to).
  private ious = new Float64Array(1024);
  private dtBoxes = new Float64Array(1024);
  private gtBoxes = new Float64Array(256);
  private crowd = new Uint8Array(64);

  /** Annotations are the datasets' (by index, as the buckets hold them); `gtCrowd` their GT crowd flags. */
  constructor(
    private readonly iouType: IouType,
    private readonly cocoGt: Coco,
    private readonly cocoDt: Coco,
    private readonly gtCrowd: Uint8Array,
    gtB: Buckets,
    dtB: Buckets,
  ) {
    const bbox = iouType === 'bbox';
    this.gtBox = bbox ? boxesOf(cocoGt, gtB) : NO_IOUS;
    this.dtBox = bbox ? boxesOf(cocoDt, dtB) : NO_IOUS;
  }

  /**
   * IoU matrix [D][G] of one cell: detections (sorted) against GT in file
   * order. It lives in a reused buffer, valid until the next call.
   */
  of(dtOrder: Int32Array, gtMembers: Int32Array): Float64Array {
    const D = dtOrder.length;
    const G = gtMembers.length;
    if (D === 0 || G === 0) return NO_IOUS;
    const o = (this.ious = atLeast(this.ious, D * G, (m) => new Float64Array(m))).subarray(0, D * G);
    return this.iouType === 'bbox' ? this.boxIous(o, dtOrder, gtMembers) : this.maskIous(o, dtOrder, gtMembers);
  }

  /** pycocotools' bbIou over the cell's rows of the precomputed box arrays. */
  private boxIous(o: Float64Array, dtOrder: Int32Array, gtMembers: Int32Array): Float64Array {
    const D = dtOrder.length;
    const G = gtMembers.length;
    const gtBox = this.gtBox;
    const dtBox = this.dtBox;
    o.fill(0);
    for (let g = 0; g < G; g++) {
      const gi = gtMembers[g]! * 4;
      const G0 = gtBox[gi]!;
      const G1 = gtBox[gi + 1]!;
      const G2 = gtBox[gi + 2]!;
      const G3 = gtBox[gi + 3]!;
      const ga = G2 * G3;
      const crowd = this.gtCrowd[gtMembers[g]!] === 1;
      for (let d = 0; d < D; d++) {
        const di = dtOrder[d]! * 4;
        const D0 = dtBox[di]!;
        const D1 = dtBox[di + 1]!;
        const D2 = dtBox[di + 2]!;
        const D3 = dtBox[di + 3]!;
        const w = Math.min(D2 + D0, G2 + G0) - Math.max(D0, G0);
        if (w <= 0) continue;
        const h = Math.min(D3 + D1, G3 + G1) - Math.max(D1, G1);
        if (h <= 0) continue;
        const i = w * h;
        const da = D2 * D3;
        o[d * G + g] = i / (crowd ? da : da + ga - i);
      }
    }
    return o;
  }

  /**
   * Mask IoU as pycocotools' rleIou: box overlap of the masks' tight boxes
   * first, then run-by-run comparison where the boxes overlap — decoding a
   * detection's runs only if it reaches that step.
   */
  private maskIous(o: Float64Array, dtOrder: Int32Array, gtMembers: Int32Array): Float64Array {
    const D = dtOrder.length;
    const G = gtMembers.length;
    const crowd = (this.crowd = atLeast(this.crowd, G, (m) => new Uint8Array(m)));
    for (let g = 0; g < G; g++) crowd[g] = this.gtCrowd[gtMembers[g]!]!;
    // A detection's mask is needed in this one cell only, so its runs go to
    // a reused buffer (its box was found when the results were loaded). GT
    // masks come from the GT's cache: a helper thread may have rasterised
    // them while the results were loading.
    const db = (this.dtBoxes = atLeast(this.dtBoxes, D * 4, (m) => new Float64Array(m)));
    const gb = (this.gtBoxes = atLeast(this.gtBoxes, G * 4, (m) => new Float64Array(m)));
    const gtRles = Array.from(gtMembers, (g) => this.cocoGt.rleAt(g));
    for (let d = 0; d < D; d++) this.cocoDt.maskBoxIntoAt(dtOrder[d]!, db, d * 4);
    for (let g = 0; g < G; g++) gb.set(rleToBbox(gtRles[g]!), g * 4);
    bbIou(db, gb, D, G, crowd, o);
    this.arena.reset();
    refineRleIou(o, D, G, (d) => this.cocoDt.rleInAt(dtOrder[d]!, this.arena), (g) => gtRles[g]!, crowd);
    return o;
  }
}
