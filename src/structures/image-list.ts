import { tf, type Tensor } from '../engine/tf.js';
import type { HostImage } from '../io/rgb-image.js';

/** A padded batch of images and the size of each before padding. */
export interface ImageList {
  /** [B, H, W, 3], normalised, zero-padded at the bottom/right. */
  tensor: Tensor;
  /** (h, w) of each image inside the padded tensor. */
  sizes: [number, number][];
}

export interface PadOptions {
  pixelMean: readonly number[];
  pixelStd: readonly number[];
  /** Pad to this square (0: to the batch maximum rounded up to `sizeDivisibility`). */
  squarePad: number;
  sizeDivisibility: number;
}

/**
 * Normalise ((x - mean) / std per channel) and zero-pad a batch, as
 * detectron2's preprocess_image + ImageList.from_tensors (padding comes after
 * normalisation, so padded pixels are 0 = the mean colour).
 */
export function toImageList(images: HostImage[], opts: PadOptions): ImageList {
  let H = Math.max(...images.map((i) => i.height));
  let W = Math.max(...images.map((i) => i.width));
  if (opts.squarePad > 0) {
    if (H > opts.squarePad || W > opts.squarePad) throw new Error(`image ${W}x${H} is larger than square_pad ${opts.squarePad}`);
    H = W = opts.squarePad;
  } else {
    const d = opts.sizeDivisibility;
    H = Math.ceil(H / d) * d;
    W = Math.ceil(W / d) * d;
  }
  const out = new Float32Array(images.length * H * W * 3);
  const [m0, m1, m2] = opts.pixelMean as [number, number, number];
  const [s0, s1, s2] = opts.pixelStd as [number, number, number];
  images.forEach((img, b) => {
    for (let y = 0; y < img.height; y++) {
      let src = y * img.width * 3;
      let dst = ((b * H + y) * W) * 3;
      for (let x = 0; x < img.width; x++) {
        out[dst++] = (img.data[src++]! - m0) / s0;
        out[dst++] = (img.data[src++]! - m1) / s1;
        out[dst++] = (img.data[src++]! - m2) / s2;
      }
    }
  });
  return { tensor: tf.tensor4d(out, [images.length, H, W, 3]), sizes: images.map((i) => [i.height, i.width]) };
}
