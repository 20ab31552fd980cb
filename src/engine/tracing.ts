import type { Tensor } from './tf.js';
import type { Converter } from './onnx/kernel-ops.js';

/**
 * Whether a graph tracer is recording the kernels that run now, and the
 * ops it records whole.
 *
 * Ops that take host-side shortcuts on memory-backed backends (a row gather
 * done with typed arrays, a tensor filled in place in the wasm heap) must
 * take their plain tensor-op path while tracing: the tracer sees kernels
 * only, and a value produced outside them would either be refused as a host
 * read or, worse, be taken for a constant and frozen into the graph.
 */
let depth = 0;

/** How a tracer records an op given whole (see `compositeOp`). */
export interface CompositeRecorder {
  /** Compute `fn` without recording its kernels; host reads inside it are the op's own. */
  unrecorded<T>(fn: () => T): T;
  /** Record `outputs` as computed from `inputs` by the nodes `convert` emits. */
  record(op: string, inputs: Tensor[], outputs: Tensor[], attrs: Record<string, unknown>, convert: Converter): void;
}

let recorder: CompositeRecorder | undefined;

export function isTracing(): boolean {
  return depth > 0;
}

/** Run `fn` with `isTracing()` true and composite ops going to `rec`. */
export function whileTracing<T>(rec: CompositeRecorder, fn: () => T): T {
  const outer = recorder;
  depth++;
  recorder = rec;
  try {
    return fn();
  } finally {
    depth--;
    recorder = outer;
  }
}

/**
 * An op whose ONNX form is one standard operator (or a few) rather than the
 * kernels its tfjs implementation runs — ROIAlign, whose tfjs form builds
 * interpolation matrices from the boxes on the host. Outside a trace this is
 * `compute()`; while tracing, `compute` runs unrecorded (reading its inputs
 * is allowed: they are the op's inputs, not the stage's) and the tracer
 * records the nodes of `convert` from `inputs` to the result.
 */
export function compositeOp(op: string, inputs: Tensor[], attrs: Record<string, unknown>, compute: () => Tensor, convert: Converter): Tensor {
  const rec = recorder;
  if (!rec) return compute();
  const out = rec.unrecorded(compute);
  rec.record(op, inputs, [out], attrs, convert);
  return out;
}
