import { tf, type Tensor } from '../../src/engine/tf.js';
import type { Mask2Former } from '../../src/segmentation/mask2former.js';

/**
 * mmseg's whole and sliding-window inference written plainly with tensors
 * (pad to 32, score, crop; windows added into place and divided by their
 * coverage): the reference the bounded, host-stitched inference is checked
 * against.
 */

function pad32(x: Tensor): Tensor {
  const [, h, w] = x.shape as [number, number, number, number];
  return tf.pad(x, [[0, 0], [0, Math.ceil(h / 32) * 32 - h], [0, Math.ceil(w / 32) * 32 - w], [0, 0]]);
}

/** Whole-image scores [h, w, K] of x [1, h, w, 3]. */
export function referenceWholeScores(model: Mask2Former, x: Tensor): Tensor {
  return tf.tidy(() => {
    const [, h, w] = x.shape as [number, number, number, number];
    return model.semanticScores(pad32(x)).squeeze([0]).slice([0, 0, 0], [h, w, -1]);
  });
}

/** Sliding-window scores [h, w, K] of x [1, h, w, 3]. */
export function referenceSlideScores(model: Mask2Former, x: Tensor, crop: number, stride: number): Tensor {
  return tf.tidy(() => {
    const [, h, w] = x.shape as [number, number, number, number];
    const nh = Math.floor(Math.max(h - crop + stride - 1, 0) / stride) + 1;
    const nw = Math.floor(Math.max(w - crop + stride - 1, 0) / stride) + 1;
    let sum: Tensor | undefined;
    let count: Tensor | undefined;
    for (let i = 0; i < nh; i++) {
      for (let j = 0; j < nw; j++) {
        const y2 = Math.min(i * stride + crop, h);
        const x2 = Math.min(j * stride + crop, w);
        const y1 = Math.max(y2 - crop, 0);
        const x1 = Math.max(x2 - crop, 0);
        const pads: [number, number][] = [
          [y1, h - y2],
          [x1, w - x2],
          [0, 0],
        ];
        const s = tf.pad(referenceWholeScores(model, x.slice([0, y1, x1, 0], [1, y2 - y1, x2 - x1, 3])), pads);
        const c = tf.pad(tf.ones([y2 - y1, x2 - x1, 1]), pads);
        sum = sum ? tf.add(sum, s) : s;
        count = count ? tf.add(count, c) : c;
      }
    }
    return tf.div(sum!, count!);
  });
}
