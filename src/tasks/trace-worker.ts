/**
 * Worker-thread entry: trace one graph (a `TraceJob`) and write it. The
 * model is built from the job's config and weights on this thread's own
 * wasm heap, which is freed when the thread exits: tracing runs the model
 * once on tfjs, and a wasm heap never shrinks, so tracing in the process
 * that then runs onnxruntime would keep that memory for its lifetime.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { switchBackend } from '../engine/backend.js';
import { tf } from '../engine/tf.js';
import { writeOnnxModel } from '../io/onnx-file.js';
import { loadDetector } from '../detection/rcnn.js';
import { loadSegmenter } from '../segmentation/mask2former.js';
import type { OnnxGraph } from '../engine/onnx/proto.js';
import { boxHeadGraph, maskHeadGraph, traceDetectorDense, traceHead } from './detection/onnx-engine.js';
import { traceSegmenterScores } from './semantic/onnx-engine.js';
import type { TraceJob } from './trace-job.js';
import { DensekitError } from '../util/errors.js';

function traceJob(job: TraceJob): OnnxGraph {
  if (job.task === 'semantic') {
    const model = loadSegmenter(job.config.model, job.config.input, job.weights);
    const crop = tf.zeros(job.graph.shape);
    try {
      return traceSegmenterScores(model, crop);
    } finally {
      crop.dispose();
      model.dispose();
    }
  }
  const model = loadDetector(job.config.model, job.config.input, job.weights);
  try {
    const g = job.graph;
    if (g.kind === 'detector_dense') {
      const images = tf.zeros(g.shape);
      try {
        return traceDetectorDense(model, images).graph;
      } finally {
        images.dispose();
      }
    }
    return traceHead(model, g.kind === 'box_head' ? boxHeadGraph(model, g.stage) : maskHeadGraph(model), g.levelShapes);
  } finally {
    model.dispose();
  }
}

const { job, file } = workerData as { job: TraceJob; file: string };
try {
  await switchBackend('wasm');
  const graph = traceJob(job);
  writeOnnxModel(file, { graph, opset: 17, producerName: 'densekit', producerVersion: '0', metadata: { stage: graph.name } });
  parentPort!.postMessage({ ok: true });
} catch (err) {
  // The message already names the file or stage; whether it is bad input or a bug travels along.
  parentPort!.postMessage({ ok: false, message: (err as Error).message, densekit: err instanceof DensekitError, stack: (err as Error).stack });
}
