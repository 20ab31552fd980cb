/**
 * Run-length encoded binary masks, bit-compatible with pycocotools'
 * maskApi.c. Masks are column-major (index = x * h + y); `counts` alternate
 * runs of 0s and 1s, starting with 0s (the first run may be empty).
 */
export interface Rle {
  h: number;
  w: number;
  counts: Uint32Array;
}

/** [x, y, width, height] */
export type Bbox = [number, number, number, number];
