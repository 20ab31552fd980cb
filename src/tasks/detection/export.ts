import { join } from 'node:path';
import { tf } from '../../engine/tf.js';
import { writeOnnxModel } from '../../io/onnx-file.js';
import type { DetectorRunConfig } from '../../config/schema.js';
import { detectorPadding, loadDetector } from '../../detection/rcnn.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { DensekitError } from '../../util/errors.js';
import { boxHeadGraph, denseOutputNames, maskHeadGraph, traceDetectorDense, traceHead, type HeadGraph } from './onnx-engine.js';
import type { OnnxGraph } from '../../engine/onnx/proto.js';

/** The padded input side a detector's graph is traced at: the square it pads to, else the test size rounded up. */
export function exportSize(config: DetectorRunConfig, requested?: number): number {
  const pad = detectorPadding(config.input, 'test');
  if (requested === undefined) return pad.squarePad > 0 ? pad.squarePad : Math.ceil(config.input.test_size / pad.sizeDivisibility) * pad.sizeDivisibility;
  if (!Number.isInteger(requested) || requested <= 0) throw new DensekitError(`--size must be a positive integer, got ${requested}`);
  if (requested % config.model.backbone.patch_size !== 0) throw new DensekitError(`--size ${requested} is not a multiple of the patch size ${config.model.backbone.patch_size}`);
  return requested;
}

const PYTHON = `"""Run densekit's exported detector graph with onnxruntime (pip install onnxruntime numpy pillow).

    python run_onnx.py IMAGE

Prints the shapes of the pyramid and RPN outputs. The steps after this graph
(anchors, top-k, NMS, ROI heads, mask pasting) are listed in manifest.json
under "host_steps"; densekit runs them itself (densekit predict --engine onnx).
"""
import json, sys
import numpy as np
import onnxruntime as ort
from PIL import Image

m = json.load(open("manifest.json"))
g = m["graphs"][0]
pre = m["preprocessing"]
side = g["inputs"][0]["shape"][1]
img = Image.open(sys.argv[1]).convert("RGB")
scale = pre["resize_longest_side"] / max(img.size)
img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
x = (np.asarray(img, dtype=np.float32) - np.array(pre["pixel_mean"], np.float32)) / np.array(pre["pixel_std"], np.float32)
batch = np.zeros((1, side, side, 3), np.float32)  # NHWC, zero padding at the bottom/right
batch[0, : x.shape[0], : x.shape[1]] = x
sess = ort.InferenceSession(g["file"], providers=["CPUExecutionProvider"])
for name, value in zip([o.name for o in sess.get_outputs()], sess.run(None, {g["inputs"][0]["name"]: batch})):
    print(name, value.shape)
`;

/** A graph's entry in the manifest. */
function graphEntry(file: string, stage: string, graph: OnnxGraph, layouts: Record<string, string> = {}) {
  return {
    file,
    stage,
    inputs: graph.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: i.dims, ...(layouts[i.name] ? { layout: layouts[i.name] } : {}) })),
    outputs: graph.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: o.dims })),
  };
}

/**
 * Write a detector's graphs for one input size — the dense graph (images →
 * pyramid + RPN outputs), each box head (a cascade stage each) and the mask
 * head, both pooling from the pyramid with ROIAlign in the graph — a
 * manifest of what they take and give (and what the host does around
 * them), and a short Python snippet that runs the dense graph.
 */
export function exportDetectorOnnx(config: DetectorRunConfig, weights: string, outDir: string, size?: number): { files: string[]; side: number } {
  const side = exportSize(config, size);
  const model = loadDetector(config.model, config.input, weights);
  const images = tf.zeros([1, side, side, 3]);
  const files: string[] = [];
  const write = (file: string, graph: OnnxGraph) => {
    const { dataBytes } = writeOnnxModel(join(outDir, file), { graph, opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: graph.name, weights } });
    files.push(file);
    if (dataBytes > 0) files.push(`${file}.data`);
    return dataBytes;
  };
  try {
    const { graph, levels } = traceDetectorDense(model, images);
    const dataBytes = write('detector_dense.onnx', graph);
    const names = denseOutputNames(levels);
    const levelShape = new Map(graph.outputs.map((o) => [o.name, o.dims.map(Number)]));
    const heads: HeadGraph[] = Array.from({ length: model.roi_heads.numBoxStages }, (_, k) => boxHeadGraph(model, k));
    if (model.roi_heads.mask_head) heads.push(maskHeadGraph(model));
    const headEntries = heads.map((h) => {
      const g = traceHead(model, h, h.pooler.levels.map((l) => levelShape.get(l.name)!));
      const file = `${h.name}.onnx`;
      write(file, g);
      return {
        ...graphEntry(file, h.name === 'mask_head' ? 'pyramid + boxes → every class\'s mask probabilities (sigmoid) [rows, M, M, K]' : `pyramid + boxes → class probabilities (softmax, background last) and box deltas, cascade stage ${h.name.slice('box_head_'.length)}`, g, Object.fromEntries(h.pooler.levels.map((l) => [l.name, 'NHWC']))),
        rows: h.rows,
        pooler: { levels: h.pooler.levels, output_size: h.pooler.outputSize, sampling_ratio: h.pooler.samplingRatio, aligned: true, canonical_size: h.pooler.canonicalSize, canonical_level: h.pooler.canonicalLevel },
      };
    });
    const manifest = {
      format: 'densekit-onnx-1',
      task: 'detection',
      opset: 17,
      graphs: [
        {
          ...graphEntry('detector_dense.onnx', 'image batch → feature pyramid + RPN head outputs', graph, { images: 'NHWC' }),
          pyramid: Object.fromEntries(model.backbone.strides.map((l, i) => [names.pyramid[i]!, { stride: l.stride }])),
        },
        ...headEntries,
      ],
      head_inputs: {
        rois_LEVEL: 'per pooler level, [rows, 4] boxes (x1, y1, x2, y2) in the padded input frame: each box in its own row of the level it is assigned to (floor(canonical_level + log2(sqrt(area) / canonical_size + 1e-8)), clamped to the levels), -10000 in every other level\'s row and in the rows beyond the boxes (they pool to zero)',
        batch_index: 'each row\'s image in the batch (int32)',
      },
      preprocessing: {
        color: 'RGB',
        resize_longest_side: config.input.test_size,
        pixel_mean: config.input.pixel_mean,
        pixel_std: config.input.pixel_std,
        pad: 'zeros at the bottom/right after normalisation',
        padded_side: side,
      },
      model: { num_classes: config.model.roi_heads.num_classes, cascade_stages: config.model.roi_heads.cascade?.iou_thresholds.length ?? 0, mask_on: config.model.roi_heads.mask_on },
      anchors: { sizes: config.model.rpn.anchor_sizes, aspect_ratios: config.model.rpn.aspect_ratios, order: 'per level: y, x, anchor' },
      test: { rpn: { pre_nms_topk: config.model.rpn.pre_nms_topk_test, post_nms_topk: config.model.rpn.post_nms_topk_test, nms_thresh: config.model.rpn.nms_thresh }, ...config.model.test },
      host_steps: [
        'anchor decoding, top-k per level, NMS (RPN proposals)',
        'per box head: level assignment of the boxes, the head graph, box decoding (cascade: refined boxes feed the next stage; class probabilities averaged over stages)',
        'class-wise NMS or Soft-NMS',
        'mask head graph on the detections, each box\'s class picked',
        'mask pasting into the image, RLE',
      ],
      weights_file: 'detector_dense.onnx.data',
      weights_bytes: dataBytes,
    };
    writeFileAtomic(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileAtomic(join(outDir, 'run_onnx.py'), PYTHON);
    return { files: [...files, 'manifest.json', 'run_onnx.py'].map((f) => join(outDir, f)), side };
  } finally {
    images.dispose();
    model.dispose();
  }
}
