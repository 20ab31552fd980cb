import { tf, type Tensor } from '../engine/tf.js';
import { interpMatrix } from '../engine/ops/resize.js';
import { dense } from '../engine/ops/dense.js';
import { memoryStageAsync } from '../engine/wasm-memory.js';

/**
 * Semantic inference around a model's dense stage, with the memory of one
 * window at a time: mmseg's whole and sliding-window modes, the scores
 * resized back to the image, and the per-pixel arg-max. Engine-agnostic: the
 * dense stage is a function (tfjs or another engine); scores are stitched on
 * the host. At ADE20K's 896 crops with 150 classes a 896x1195 image's scores
 * are 613 MB; stitching them as tensors (a padded copy of each window, the
 * running sum and the next sum) held three such blocks on the wasm heap at
 * once, on top of the model.
 */

/** One crop's per-pixel class scores on the host: row-major [1, h, w, K]. */
export interface HostCropScores {
  data: Float32Array;
  shape: [number, number, number, number];
}

/**
 * A normalised crop [1, h, w, 3] (h, w multiples of 32) → its per-pixel
 * class scores on the host. The crop tensor stays the caller's.
 */
export type CropScores = (crop: Tensor) => Promise<HostCropScores>;

/** The crop scores of a tfjs function returning a [1, h, w, K] tensor (read back and freed). */
export function hostCropScores(scores: (crop: Tensor) => Tensor): CropScores {
  return async (crop) => {
    const out = scores(crop);
    try {
      return { data: out.dataSync() as Float32Array, shape: out.shape as [number, number, number, number] };
    } finally {
      out.dispose();
    }
  };
}

/** An image's class scores on the host, row-major [height, width, classes]. */
export interface HostScores {
  data: Float32Array;
  height: number;
  width: number;
  classes: number;
}

/** Pad [1, h, w, 3] at the bottom/right to multiples of 32. */
function pad32(x: Tensor): Tensor {
  const [, h, w] = x.shape as [number, number, number, number];
  const ph = Math.ceil(h / 32) * 32 - h;
  const pw = Math.ceil(w / 32) * 32 - w;
  return ph || pw ? tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]]) : x;
}

/**
 * The scores of the region (y1, x1, h, w) of x [1, H, W, 3]: the crop padded
 * to multiples of 32 and scored; the padding is skipped when reading.
 */
async function regionScores(scores: CropScores, x: Tensor, y1: number, x1: number, h: number, w: number): Promise<{ data: Float32Array; classes: number; stride: number }> {
  const crop = tf.tidy(() => pad32(x.slice([0, y1, x1, 0], [1, h, w, 3])));
  try {
    const out = await scores(crop);
    const [, , pw, k] = out.shape;
    // The padded rows lie after the region's rows: read each row's first w·K values.
    return { data: out.data, classes: k, stride: pw * k };
  } finally {
    crop.dispose();
  }
}

/** Whole-image scores of x [1, H, W, 3] on the host. */
export async function wholeScoresHost(scores: CropScores, x: Tensor): Promise<HostScores> {
  const [, h, w] = x.shape as [number, number, number, number];
  const r = await regionScores(scores, x, 0, 0, h, w);
  const data = new Float32Array(h * w * r.classes);
  for (let y = 0; y < h; y++) data.set(r.data.subarray(y * r.stride, y * r.stride + w * r.classes), y * w * r.classes);
  return { data, height: h, width: w, classes: r.classes };
}

/**
 * mmseg's slide inference on the host: windows of `crop` every `stride` (the
 * last one shifted to end at the border), each window's scores added into
 * place and divided by how many windows covered each pixel.
 */
export async function slideScoresHost(scores: CropScores, x: Tensor, crop: number, stride: number): Promise<HostScores> {
  const [, h, w] = x.shape as [number, number, number, number];
  const nh = Math.floor(Math.max(h - crop + stride - 1, 0) / stride) + 1;
  const nw = Math.floor(Math.max(w - crop + stride - 1, 0) / stride) + 1;
  let sum: Float32Array | undefined;
  let k = 0;
  const count = new Float32Array(h * w);
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) {
      const y2 = Math.min(i * stride + crop, h);
      const x2 = Math.min(j * stride + crop, w);
      const y1 = Math.max(y2 - crop, 0);
      const x1 = Math.max(x2 - crop, 0);
      const r = await memoryStageAsync(`window ${i * nw + j + 1} of ${nh * nw}`, () => regionScores(scores, x, y1, x1, y2 - y1, x2 - x1));
      k = r.classes;
      sum ??= new Float32Array(h * w * k);
      const run = (x2 - x1) * k;
      for (let y = y1; y < y2; y++) {
        const src = r.data.subarray((y - y1) * r.stride, (y - y1) * r.stride + run);
        const o = (y * w + x1) * k;
        for (let e = 0; e < run; e++) sum[o + e]! += src[e]!;
        for (let xx = x1; xx < x2; xx++) count[y * w + xx]!++;
      }
    }
  }
  const data = sum!;
  for (let p = 0; p < h * w; p++) {
    const c = count[p]!;
    for (let e = p * k; e < (p + 1) * k; e++) data[e] = data[e]! / c;
  }
  return { data, height: h, width: w, classes: k };
}

/** Output rows per step of `labelMap`. */
const LABEL_ROWS = 64;

/**
 * The label map at (H, W): scores resized bilinearly (align_corners=False,
 * as resize2d) and arg-maxed per pixel (the first of equal maxima), in bands
 * of output rows, each computed from only the source rows it interpolates.
 * Returns row-major class ids (fewer than 256 classes).
 */
export function labelMap(s: HostScores, H: number, W: number): Uint8Array {
  const { height: h, width: w, classes: k } = s;
  if (k > 256) throw new Error(`labelMap: ${k} classes do not fit a byte`);
  const out = new Uint8Array(H * W);
  const same = h === H && w === W;
  const mh = same ? undefined : interpMatrix(h, H, 'linear');
  const mwT = same ? undefined : tf.tidy(() => tf.tensor2d(interpMatrix(w, W, 'linear'), [W, w]).transpose());
  try {
    for (let r0 = 0; r0 < H; r0 += LABEL_ROWS) {
      const rows = Math.min(LABEL_ROWS, H - r0);
      const ids = tf.tidy(() => {
        if (same) return tf.argMax(tf.tensor3d(s.data.subarray(r0 * w * k, (r0 + rows) * w * k), [rows, w, k]), 2);
        // The source rows this band interpolates from, and the band's weights on them.
        let s0 = h;
        let s1 = -1;
        for (let r = r0; r < r0 + rows; r++) {
          for (let c = 0; c < h; c++) {
            if (mh![r * h + c] !== 0) {
              s0 = Math.min(s0, c);
              s1 = Math.max(s1, c);
            }
          }
        }
        const n = s1 - s0 + 1;
        const weights = new Float32Array(rows * n);
        for (let r = 0; r < rows; r++) weights.set(mh!.subarray((r0 + r) * h + s0, (r0 + r) * h + s0 + n), r * n);
        const src = tf.tensor2d(s.data.subarray(s0 * w * k, (s1 + 1) * w * k), [n, w * k]);
        const y = tf.matMul(tf.tensor2d(weights, [rows, n]), src).reshape([rows, w, k]).transpose([0, 2, 1]).reshape([rows * k, w]);
        return tf.argMax(dense(y, mwT!).reshape([rows, k, W]), 1);
      });
      out.set(ids.dataSync(), r0 * W);
      ids.dispose();
    }
  } finally {
    mwT?.dispose();
  }
  return out;
}
