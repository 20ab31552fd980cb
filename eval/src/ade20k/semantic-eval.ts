/**
 * mmsegmentation-compatible semantic segmentation metrics (IoUMetric):
 * per-class intersection / union / prediction / label pixel counts,
 * accumulated image by image, then aAcc, mIoU, mAcc. A dataset never has to
 * fit in memory: only 4 x numClasses counters are kept.
 */

export interface SemanticEvalOptions {
  numClasses: number;
  /** Label value excluded from every count (after the zero-label reduction). */
  ignoreIndex?: number;
  /** ADE20K's convention: raw 0 ("other") is ignored and raw k becomes class k-1. */
  reduceZeroLabel?: boolean;
}

export interface SemanticMetrics {
  /** Pixel accuracy over all valid pixels. */
  aAcc: number;
  /** Mean IoU over classes whose IoU is defined (NaN-skipping mean). */
  mIoU: number;
  /** Mean accuracy over classes present in the labels. */
  mAcc: number;
  /** Per class; NaN where mmseg reports NaN. */
  iou: Float64Array;
  acc: Float64Array;
  areaIntersect: Float64Array;
  areaUnion: Float64Array;
  areaPred: Float64Array;
  areaLabel: Float64Array;
}

/** mmseg's LoadAnnotations(reduce_zero_label=True) on uint8 values. */
export function reduceZeroLabel(v: number): number {
  if (v === 0) return 255;
  const r = (v - 1) & 0xff;
  return r === 254 ? 255 : r;
}

export class SemanticEvaluator {
  readonly numClasses: number;
  readonly ignoreIndex: number;
  readonly reduceZero: boolean;
  readonly areaIntersect: Float64Array;
  readonly areaPred: Float64Array;
  readonly areaLabel: Float64Array;
  images = 0;

  constructor(opts: SemanticEvalOptions) {
    this.numClasses = opts.numClasses;
    this.ignoreIndex = opts.ignoreIndex ?? 255;
    this.reduceZero = opts.reduceZeroLabel ?? false;
    this.areaIntersect = new Float64Array(this.numClasses);
    this.areaPred = new Float64Array(this.numClasses);
    this.areaLabel = new Float64Array(this.numClasses);
  }

  /**
   * Count one image. `pred` holds class indices, `label` raw label values
   * (reduced here when reduceZeroLabel is set); both row-major, same size.
   * As mmseg: pixels whose (reduced) label is the ignore index are dropped;
   * values outside [0, numClasses) are not counted in a histogram — so a
   * label of 150..253 still counts its prediction (and thus the union).
   */
  add(pred: ArrayLike<number>, label: ArrayLike<number>): void {
    if (pred.length !== label.length) throw new Error(`prediction has ${pred.length} pixels, label ${label.length}`);
    const K = this.numClasses;
    const ai = this.areaIntersect;
    const ap = this.areaPred;
    const al = this.areaLabel;
    const ignore = this.ignoreIndex;
    const reduce = this.reduceZero;
    for (let i = 0; i < pred.length; i++) {
      const l = reduce ? reduceZeroLabel(label[i]!) : label[i]!;
      if (l === ignore) continue;
      const p = pred[i]!;
      if (p >= 0 && p < K) {
        ap[p]!++;
        if (p === l) ai[p]!++;
      }
      if (l >= 0 && l < K) al[l]!++;
    }
    this.images++;
  }

  metrics(): SemanticMetrics {
    const K = this.numClasses;
    const union = new Float64Array(K);
    const iou = new Float64Array(K);
    const acc = new Float64Array(K);
    let totalIntersect = 0;
    let totalLabel = 0;
    for (let c = 0; c < K; c++) {
      union[c] = this.areaPred[c]! + this.areaLabel[c]! - this.areaIntersect[c]!;
      iou[c] = union[c] === 0 ? NaN : this.areaIntersect[c]! / union[c]!;
      acc[c] = this.areaLabel[c] === 0 ? NaN : this.areaIntersect[c]! / this.areaLabel[c]!;
      totalIntersect += this.areaIntersect[c]!;
      totalLabel += this.areaLabel[c]!;
    }
    return {
      aAcc: totalIntersect / totalLabel,
      mIoU: nanMean(iou),
      mAcc: nanMean(acc),
      iou,
      acc,
      areaIntersect: Float64Array.from(this.areaIntersect),
      areaUnion: union,
      areaPred: Float64Array.from(this.areaPred),
      areaLabel: Float64Array.from(this.areaLabel),
    };
  }
}

function nanMean(v: Float64Array): number {
  let s = 0;
  let n = 0;
  for (const x of v) {
    if (!Number.isNaN(x)) {
      s += x;
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}
