import type { BoxArray } from './boxes.js';
import type { InstanceMask } from './masks.js';

/** Ground truth of one image, in the (possibly resized) input frame. */
export interface GtInstances {
  boxes: BoxArray;
  /** Contiguous class indices 0..K-1. */
  classes: Int32Array;
  masks?: InstanceMask[];
}

/** Detections of one image. Boxes XYXY in the frame they were produced in. */
export interface Detections {
  boxes: BoxArray;
  scores: Float32Array;
  /** Contiguous class indices 0..K-1. */
  classes: Int32Array;
  /** Per detection, the mask probabilities at the mask head's resolution (M x M, row-major). */
  maskProbs?: Float32Array[];
}

export function emptyDetections(): Detections {
  return { boxes: new Float32Array(0), scores: new Float32Array(0), classes: new Int32Array(0) };
}

/** Keep detections `idx` (in that order). */
export function selectDetections(d: Detections, idx: ArrayLike<number>): Detections {
  const boxes = new Float32Array(idx.length * 4);
  const scores = new Float32Array(idx.length);
  const classes = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    boxes.set(d.boxes.subarray(i * 4, i * 4 + 4), k * 4);
    scores[k] = d.scores[i]!;
    classes[k] = d.classes[i]!;
  }
  const out: Detections = { boxes, scores, classes };
  if (d.maskProbs) out.maskProbs = Array.from(idx, (i) => d.maskProbs![i]!);
  return out;
}
