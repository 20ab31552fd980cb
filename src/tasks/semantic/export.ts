import { join } from 'node:path';
import { tf } from '../../engine/tf.js';
import { writeOnnxModel } from '../../io/onnx-file.js';
import type { SegmenterRunConfig } from '../../config/schema.js';
import { loadSegmenter } from '../../segmentation/mask2former.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import { traceSegmenterScores } from './onnx-engine.js';

/**
 * The square crop side a segmenter's graph is traced at: the sliding
 * window's crop, else the test size rounded up to a multiple of 32 (a
 * whole-mode image of another shape needs its own graph: `--size`, or the
 * densekit engine, which traces one per shape).
 */
export function segmenterExportSize(config: SegmenterRunConfig, requested?: number): number {
  if (requested === undefined) return config.model.test.mode === 'slide' ? config.model.test.crop_size : Math.ceil(config.input.test_size / 32) * 32;
  if (!Number.isInteger(requested) || requested <= 0) throw new DensekitError(`--size must be a positive integer, got ${requested}`);
  if (requested % 32 !== 0) throw new DensekitError(`--size ${requested} is not a multiple of 32 (the adapter's coarsest stride)`);
  return requested;
}

const PYTHON = `"""Run densekit's exported segmenter graph with onnxruntime (pip install onnxruntime numpy pillow).

    python run_onnx.py IMAGE OUT.png

Writes the label map (class ids) of IMAGE at its own size, as densekit does:
shorter side resized to the test size, sliding windows of the graph's crop
(each padded with zeros at the bottom/right), scores averaged where windows
overlap, resized back bilinearly, arg-max per pixel. (A window smaller than
the crop is padded to the crop here; densekit pads it only to a multiple of
32 with a graph traced for that shape, so such borders can differ slightly.)
"""
import json, sys
import numpy as np
import onnxruntime as ort
from PIL import Image

m = json.load(open("manifest.json"))
g = m["graphs"][0]
pre = m["preprocessing"]
crop = g["inputs"][0]["shape"][1]
stride = m["test"]["stride"] if m["test"]["mode"] == "slide" else crop
sess = ort.InferenceSession(g["file"], providers=["CPUExecutionProvider"])

src = Image.open(sys.argv[1]).convert("RGB")
scale = pre["resize_shorter_side"] / min(src.size)
img = src.resize((round(src.width * scale), round(src.height * scale)), Image.BILINEAR)
x = (np.asarray(img, dtype=np.float32) - np.array(pre["pixel_mean"], np.float32)) / np.array(pre["pixel_std"], np.float32)
h, w = x.shape[:2]
k = g["outputs"][0]["shape"][3]
total = np.zeros((h, w, k), np.float32)
count = np.zeros((h, w, 1), np.float32)
for i in range((max(h - crop + stride - 1, 0)) // stride + 1):
    for j in range((max(w - crop + stride - 1, 0)) // stride + 1):
        y2, x2 = min(i * stride + crop, h), min(j * stride + crop, w)
        y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
        window = np.zeros((1, crop, crop, 3), np.float32)  # NHWC
        window[0, : y2 - y1, : x2 - x1] = x[y1:y2, x1:x2]
        scores = sess.run(None, {"crop": window})[0][0]
        total[y1:y2, x1:x2] += scores[: y2 - y1, : x2 - x1]
        count[y1:y2, x1:x2] += 1
total /= count
# Bilinear resize back (align_corners=False), then arg-max.
def axis(n_in, n_out):
    c = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(c).astype(int); hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (c - lo).astype(np.float32)
ylo, yhi, fy = axis(h, src.height)
xlo, xhi, fx = axis(w, src.width)
rows = total[ylo] * (1 - fy)[:, None, None] + total[yhi] * fy[:, None, None]
full = rows[:, xlo] * (1 - fx)[None, :, None] + rows[:, xhi] * fx[None, :, None]
Image.fromarray(full.argmax(-1).astype(np.uint8)).save(sys.argv[2])
`;

/**
 * Write a segmenter's dense graph (a normalised crop → per-pixel class
 * scores) for one crop side, a manifest of what it takes and gives and of
 * the host steps around it, and a Python snippet that segments an image with it.
 */
export function exportSegmenterOnnx(config: SegmenterRunConfig, weights: string, outDir: string, size?: number): { files: string[]; side: number } {
  const side = segmenterExportSize(config, size);
  const model = loadSegmenter(config.model, config.input, weights);
  const crop = tf.zeros([1, side, side, 3]);
  try {
    const graph = traceSegmenterScores(model, crop, { queries: true });
    const file = 'segmenter_scores.onnx';
    const { dataBytes } = writeOnnxModel(join(outDir, file), { graph, opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: 'segmenter_scores', weights } });
    const manifest = {
      format: 'densekit-onnx-1',
      task: 'semantic',
      opset: 17,
      graphs: [
        {
          file,
          stage: 'normalised crop → per-pixel class scores (Mask2Former: class-weighted sigmoid masks), and the last decoder layer\'s class logits (no-object last) and mask logits at stride 4 they come from',
          inputs: graph.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: i.dims, layout: 'NHWC' })),
          outputs: graph.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: o.dims, ...(o.name === 'scores' ? { layout: 'NHWC' } : {}) })),
        },
      ],
      preprocessing: {
        color: 'RGB',
        resize_shorter_side: config.input.test_size,
        pixel_mean: config.input.pixel_mean,
        pixel_std: config.input.pixel_std,
        pad: 'each window with zeros at the bottom/right to the crop side, after normalisation',
        crop_side: side,
      },
      model: { num_classes: config.model.head.num_classes, queries: config.model.head.queries },
      test: config.model.test,
      host_steps: [
        'sliding windows (mode slide: crop_size every stride, the last one shifted to end at the border; mode whole: one window)',
        'window scores added into place and divided by how many windows cover each pixel',
        'scores resized bilinearly (align_corners=False) to the original image, arg-max per pixel',
      ],
      weights_file: `${file}.data`,
      weights_bytes: dataBytes,
    };
    writeFileAtomic(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileAtomic(join(outDir, 'run_onnx.py'), PYTHON);
    return { files: [file, `${file}.data`, 'manifest.json', 'run_onnx.py'].map((f) => join(outDir, f)), side };
  } finally {
    crop.dispose();
    model.dispose();
  }
}
