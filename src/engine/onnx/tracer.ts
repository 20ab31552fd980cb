import { tf, type Tensor } from '../tf.js';
import type { Module } from '../module.js';
import { DensekitError } from '../../util/errors.js';
import { whileTracing, type CompositeRecorder } from '../tracing.js';
import { CONVERTERS, onnxDType, type Converter, type KernelEmitter } from './kernel-ops.js';
import type { OnnxDType, OnnxGraph, OnnxNode, OnnxTensor } from './proto.js';

/**
 * Turn one dense stage of a model into an ONNX graph by running it: every
 * kernel of the active tfjs backend is wrapped, the stage runs for real (so
 * every shape and value is known), and each kernel call whose inputs depend
 * on the stage's inputs is recorded as ONNX nodes. Kernel calls on
 * constants alone (parameters, host values, tables derived from them) are
 * not recorded: their results become initializers where the graph uses
 * them. There is no second definition of any model: the graph is what the
 * model code did.
 *
 * Refused, with the kernel and the module that ran it:
 *  - a kernel with no ONNX conversion;
 *  - a read of a value computed from the inputs back to the host
 *    (`dataSync`, `data`, `arraySync`): it would bake one input's data
 *    into the graph.
 * Shapes are frozen: a graph is for the input sizes it was traced at.
 */

export interface TraceInput {
  name: string;
  tensor: Tensor;
}

export interface TraceOptions {
  /** Graph name. */
  name: string;
  /** The model, so that initializers carry parameter names and errors name the module path. */
  model?: Module;
}

/** Kernels whose output depends on their input's shape alone: constant even for a traced input. */
const SHAPE_ONLY = new Set(['ZerosLike', 'OnesLike', 'Fill']);

interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

interface Produced {
  name: string;
  kernel: string;
  module: string;
}

interface BackendReads {
  readSync(dataId: object): ArrayLike<number>;
  read(dataId: object): Promise<ArrayLike<number>>;
}

/** A tensor's buffer, shape and dtype: what the tracer keys values by. */
const infoOf = (t: Tensor): TensorInfo => ({ dataId: (t as unknown as TensorInfo).dataId, shape: [...t.shape], dtype: t.dtype });

const keyOf = (t: { shape: readonly number[]; dtype: string }) => `${t.shape.join('x')}|${t.dtype}`;

/** Values by (buffer, shape, dtype): backends share one buffer between a tensor and its reshapes. */
class ValueMap<V> {
  private readonly map = new WeakMap<object, Map<string, V>>();
  get(t: TensorInfo): V | undefined {
    return this.map.get(t.dataId)?.get(keyOf(t));
  }
  has(dataId: object): boolean {
    return this.map.has(dataId);
  }
  any(dataId: object): V | undefined {
    const m = this.map.get(dataId);
    return m ? m.values().next().value : undefined;
  }
  set(t: TensorInfo, v: V): void {
    let m = this.map.get(t.dataId);
    if (!m) this.map.set(t.dataId, (m = new Map()));
    m.set(keyOf(t), v);
  }
}

/** Row-major little-endian bytes of host data in an ONNX element type. */
function bytesOf(data: ArrayLike<number>, dtype: OnnxDType): Uint8Array {
  const n = data.length;
  if (dtype === 'float32') return new Uint8Array(Float32Array.from(data).buffer);
  if (dtype === 'int32') return new Uint8Array(Int32Array.from(data).buffer);
  if (dtype === 'int64') return new Uint8Array(BigInt64Array.from(Array.from({ length: n }, (_, i) => BigInt(Math.trunc(data[i]!)))).buffer);
  return Uint8Array.from(data, (v) => (v ? 1 : 0));
}

/** Install `forward` hooks that keep the path of the module running now; returns the undo. */
function trackModules(model: Module | undefined, stack: string[]): () => void {
  if (!model) return () => {};
  const undo: (() => void)[] = [];
  const visit = (m: Module, path: string) => {
    const inst = m as unknown as Record<string, unknown>;
    const fwd = inst.forward;
    if (typeof fwd === 'function') {
      inst.forward = function (this: unknown, ...args: unknown[]) {
        stack.push(path || '(model)');
        try {
          return (fwd as (...a: unknown[]) => unknown).apply(this, args);
        } finally {
          stack.pop();
        }
      };
      undo.push(() => delete inst.forward);
    }
    for (const [name, child] of m.namedChildren()) visit(child, path ? `${path}.${name}` : name);
  };
  visit(model, '');
  return () => undo.forEach((u) => u());
}

/**
 * Trace `stage` on `inputs` into an ONNX graph whose outputs are the
 * returned tensors under the given names. Returns the graph and the stage's
 * own outputs (computed by the backend; the caller disposes them).
 */
export function traceGraph(stage: () => Record<string, Tensor>, inputs: TraceInput[], opts: TraceOptions): { graph: OnnxGraph; outputs: Record<string, Tensor> } {
  const backendName = tf.getBackend();
  const backend = tf.backend() as unknown as BackendReads;
  const dynamic = new ValueMap<Produced>();
  const constants = new ValueMap<string>();
  const paramNames = new WeakMap<object, string>();
  if (opts.model) for (const [n, v] of opts.model.stateDict()) paramNames.set((v as unknown as TensorInfo).dataId, n);
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const usedNames = new Set<string>();
  const moduleStack: string[] = [];
  let counter = 0;
  let depth = 0;
  const fresh = (base: string) => {
    let n = base;
    while (usedNames.has(n)) n = `${base}_${++counter}`;
    usedNames.add(n);
    return n;
  };
  const here = () => moduleStack[moduleStack.length - 1] ?? '(outside any module)';

  const readSync = backend.readSync.bind(backend);
  const read = backend.read.bind(backend);
  const refuseHostRead = (dataId: object) => {
    const p = dynamic.any(dataId);
    if (depth === 0 && p) {
      throw new DensekitError(
        `the stage read a value computed from its inputs back to the host (the output of ${p.kernel} in ${p.module}, read in ${here()}): that would bake one input's values into the graph; compute it with tensor ops instead`,
        { key: opts.name },
      );
    }
  };
  backend.readSync = (dataId) => {
    refuseHostRead(dataId);
    return readSync(dataId);
  };
  backend.read = (dataId) => {
    refuseHostRead(dataId);
    return read(dataId);
  };

  const addInitializer = (base: string, data: ArrayLike<number>, dims: number[], dtype: OnnxDType): string => {
    const name = fresh(base);
    initializers.push({ name, dtype, dims, data: bytesOf(data, dtype) });
    return name;
  };
  const constantName = (t: TensorInfo): string => {
    const known = constants.get(t);
    if (known) return known;
    const data = readSync(t.dataId);
    const name = addInitializer(paramNames.get(t.dataId) ?? 'const', data, [...t.shape], onnxDType(t.dtype));
    constants.set(t, name);
    return name;
  };

  for (const i of inputs) {
    usedNames.add(i.name);
    dynamic.set(infoOf(i.tensor), { name: i.name, kernel: 'input', module: i.name });
  }

  const originals = tf.getKernelsForBackend(backendName);
  const restoreModules = trackModules(opts.model, moduleStack);
  let failure: unknown;
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        if (depth > 0 || failure) return k.kernelFunc(args);
        const ins = Object.values(args.inputs).filter((t): t is tf.TensorInfo => t !== undefined) as unknown as TensorInfo[];
        const traced = ins.some((t) => dynamic.get(t));
        // Run the kernel first: its own reads of its inputs are not host reads.
        depth++;
        let out: tf.TensorInfo | tf.TensorInfo[];
        try {
          out = k.kernelFunc(args);
        } finally {
          depth--;
        }
        if (!traced || SHAPE_ONLY.has(k.kernelName)) return out;
        try {
          recordKernel(k.kernelName, ins, (Array.isArray(out) ? out : [out]) as unknown as TensorInfo[], (args.attrs ?? {}) as Record<string, unknown>);
        } catch (err) {
          failure = err;
        }
        return out;
      },
    });
  }

  function recordKernel(kernel: string, ins: TensorInfo[], outs: TensorInfo[], attrs: Record<string, unknown>): void {
    const convert = CONVERTERS[kernel];
    if (!convert) throw new DensekitError(`kernel ${kernel} (in ${here()}) has no ONNX conversion`, { key: opts.name });
    recordWith(kernel, convert, ins, outs, attrs);
  }

  function recordWith(kernel: string, convert: Converter, ins: TensorInfo[], outs: TensorInfo[], attrs: Record<string, unknown>): void {
    const module = here();
    const outNames = outs.map(() => fresh(`${kernel.toLowerCase()}_${nodes.length}`));
    const nodeName = `${module}/${kernel}_${nodes.length}`;
    const emitter: KernelEmitter = {
      kernel,
      attrs,
      numInputs: ins.length,
      input: (i) => dynamic.get(ins[i]!)?.name ?? constantName(ins[i]!),
      inputShape: (i) => [...ins[i]!.shape],
      inputDtype: (i) => ins[i]!.dtype,
      constantData: (i) => (dynamic.get(ins[i]!) ? undefined : readSync(ins[i]!.dataId)),
      outputShape: (i = 0) => [...outs[i]!.shape],
      outputDtype: (i = 0) => outs[i]!.dtype,
      output: (i = 0) => outNames[i]!,
      node(opType, inputs, attributes = {}, outputs = 1) {
        const names = typeof outputs === 'number' ? Array.from({ length: outputs }, () => fresh(`${opType.toLowerCase()}_${nodes.length}`)) : outputs;
        nodes.push({ opType, inputs, outputs: names, name: fresh(`${nodeName}/${opType}`), attributes: attributes as OnnxNode['attributes'], docString: `${kernel} in ${module}` });
        return names;
      },
      int64: (values) => addInitializer('shape', values, [values.length], 'int64'),
      scalar: (value, dtype) => addInitializer('scalar', [value], [], dtype),
      tensor: (data, dims, dtype) => addInitializer('const', data, dims, dtype),
    };
    try {
      convert(emitter);
    } catch (err) {
      if (err instanceof DensekitError) throw err;
      throw new DensekitError(`kernel ${kernel} (in ${module}) could not be converted: ${(err as Error).message}`, { key: opts.name });
    }
    outs.forEach((o, i) => dynamic.set(o, { name: outNames[i]!, kernel, module }));
  }

  let result: Record<string, Tensor>;
  try {
    // No gradient tape: custom-gradient ops then appear as their forward kernels alone.
    const composites: CompositeRecorder = {
      unrecorded(fn) {
        depth++;
        try {
          return fn();
        } finally {
          depth--;
        }
      },
      record(op, inputs, outputs, attrs, convert) {
        if (failure) return;
        const ins = inputs.map(infoOf);
        // On constants alone the result is a constant too.
        if (!ins.some((t) => dynamic.get(t))) return;
        try {
          recordWith(op, convert, ins, outputs.map(infoOf), attrs);
        } catch (err) {
          failure = err;
        }
      },
    };
    result = whileTracing(composites, () => tf.tidy(() => stage()));
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backendName);
      tf.registerKernel(k);
    }
    restoreModules();
    backend.readSync = readSync;
    backend.read = read;
  }
  if (failure) {
    for (const t of Object.values(result)) t.dispose();
    throw failure;
  }

  const outputs = Object.entries(result).map(([name, t]) => {
    const info = infoOf(t);
    const source = dynamic.get(info)?.name ?? constantName(info);
    usedNames.add(name);
    nodes.push({ opType: 'Identity', inputs: [source], outputs: [name], name: fresh(`output/${name}`), attributes: {} });
    return { name, dtype: onnxDType(t.dtype), dims: [...t.shape] };
  });
  return {
    graph: {
      name: opts.name,
      nodes,
      initializers,
      inputs: inputs.map((i) => ({ name: i.name, dtype: onnxDType(i.tensor.dtype), dims: [...i.tensor.shape] })),
      outputs,
    },
    outputs: result,
  };
}
