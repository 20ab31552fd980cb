import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { tf } from '../tf.js';
import { inKernel } from './kernel-context.js';
import type { DensekitWebGPUBackend } from './gpu-backend.js';

type TensorInfo = tf.TensorInfo;
type KernelFunc = tf.KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];

/** tfjs-backend-webgpu's helpers for writing a program (exported as `webgpu_util`). */
export interface WebGpuUtil {
  flatDispatchLayout(shape: number[]): { x: number[] };
  computeDispatch(layout: { x: number[] }, outputShape: number[], workgroupSize: [number, number, number]): [number, number, number];
}

function original(name: string): KernelFunc {
  const k = tf.getKernel(name, 'webgpu');
  if (!k) throw new Error(`webgpu: tfjs has no ${name} kernel`);
  return k.kernelFunc;
}

function replace(name: string, kernelFunc: KernelFunc): void {
  const k = tf.getKernel(name, 'webgpu')!;
  tf.unregisterKernel(name, 'webgpu');
  tf.registerKernel({ ...k, kernelFunc });
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Deterministic sum of rows into segments: `out[r, :] = Σ updates[perm[j], :]`
 * for `offsets[r] <= j < offsets[r+1]`, in that order. One thread per output
 * element, no atomics. tfjs' ScatterNd and UnsortedSegmentSum add with
 * atomics in whatever order the threads run, so the same step gives
 * different sums from run to run (up to 2.7e-4 measured) and a resumed run
 * drifts from an uninterrupted one.
 */
class SegmentSumProgram implements Partial<WebGPUProgram> {
  variableNames = ['updates', 'perm', 'offsets'];
  outputShape: number[];
  shaderKey = 'densekit_segment_sum';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = 'numCols : i32,';
  size = true;

  constructor(rows: number, cols: number, util: WebGpuUtil) {
    this.outputShape = [rows, cols];
    this.dispatchLayout = util.flatDispatchLayout(this.outputShape);
    this.dispatch = util.computeDispatch(this.dispatchLayout, this.outputShape, this.workgroupSize);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let row = index / uniforms.numCols;
          let col = index - row * uniforms.numCols;
          let end = offsets[row + 1];
          var acc = 0.0;
          for (var j = offsets[row]; j < end; j = j + 1) {
            acc = acc + updates[perm[j] * uniforms.numCols + col];
          }
          setOutputAtIndex(index, acc);
        }
      }`;
  }
}

/**
 * Sum the rows of `updates` ([n, cols]) into `rows` output rows, row
 * `target[i]` receiving update `i` (targets outside [0, rows) are dropped).
 * The targets are read on the host to sort the updates by target.
 */
function segmentSum(backend: DensekitWebGPUBackend, util: WebGpuUtil, updates: TensorInfo, target: Int32Array, rows: number, cols: number): TensorInfo {
  const counts = new Int32Array(rows + 1);
  for (let i = 0; i < target.length; i++) {
    const r = target[i]!;
    if (r >= 0 && r < rows) counts[r + 1]!++;
  }
  for (let r = 0; r < rows; r++) counts[r + 1]! += counts[r]!;
  const fill = counts.slice(0, rows);
  const perm = new Int32Array(Math.max(1, counts[rows]!));
  for (let i = 0; i < target.length; i++) {
    const r = target[i]!;
    if (r >= 0 && r < rows) perm[fill[r]!++] = i;
  }
  const permT = backend.makeTensorInfo([perm.length], 'int32', perm);
  const offsetsT = backend.makeTensorInfo([rows + 1], 'int32', counts);
  const program = new SegmentSumProgram(rows, cols, util) as unknown as WebGPUProgram;
  const out = backend.runWebGPUProgram(program, [updates, permT, offsetsT], 'float32', [{ type: 'int32', data: [cols] }]);
  backend.disposeData(permT.dataId);
  backend.disposeData(offsetsT.dataId);
  return out;
}

function reshape(backend: DensekitWebGPUBackend, x: TensorInfo, shape: number[]): TensorInfo {
  return original('Reshape')({ inputs: { x }, backend, attrs: { shape } } as unknown as KernelArgs) as TensorInfo;
}

function readInt(backend: DensekitWebGPUBackend, t: TensorInfo): Int32Array {
  const v = backend.readSync(t.dataId);
  return v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>);
}

/** ScatterNd (summing duplicates) without atomics, for float32 updates. */
function scatterNd(util: WebGpuUtil, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as unknown as DensekitWebGPUBackend;
    const indices = inputs.indices as TensorInfo;
    const updates = inputs.updates as TensorInfo;
    const shape = (attrs as { shape: number[] }).shape;
    if (updates.dtype !== 'float32') return fallback(args);
    const sliceRank = indices.shape.length > 1 ? indices.shape[indices.shape.length - 1]! : 1;
    const cols = size(shape.slice(sliceRank));
    const rows = size(shape.slice(0, sliceRank));
    const n = size(indices.shape) / sliceRank;
    const strides = shape.slice(0, sliceRank).map((_, i) => size(shape.slice(i + 1, sliceRank)));
    const idx = readInt(backend, indices);
    const target = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let j = 0; j < sliceRank; j++) {
        const v = idx[i * sliceRank + j]!;
        if (v < 0 || v >= shape[j]!) throw new Error(`webgpu: ScatterNd index ${v} out of range [0, ${shape[j]}) on axis ${j}`);
        r += v * strides[j]!;
      }
      target[i] = r;
    }
    const flat = reshape(backend, updates, [n, cols]);
    const out = segmentSum(backend, util, flat, target, rows, cols);
    backend.disposeData(flat.dataId);
    const res = reshape(backend, out, shape);
    backend.disposeData(out.dataId);
    return res;
  };
}

/** UnsortedSegmentSum over 1-D segment ids without atomics, for float32 data. */
function unsortedSegmentSum(util: WebGpuUtil, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as unknown as DensekitWebGPUBackend;
    const x = inputs.x as TensorInfo;
    const ids = inputs.segmentIds as TensorInfo;
    const numSegments = (attrs as { numSegments: number }).numSegments;
    if (x.dtype !== 'float32' || ids.shape.length !== 1 || ids.shape[0] !== x.shape[0]) return fallback(args);
    const cols = size(x.shape.slice(1));
    const flat = reshape(backend, x, [x.shape[0]!, cols]);
    const out = segmentSum(backend, util, flat, readInt(backend, ids), numSegments, cols);
    backend.disposeData(flat.dataId);
    const res = reshape(backend, out, [numSegments, ...x.shape.slice(1)]);
    backend.disposeData(out.dataId);
    return res;
  };
}

/**
 * AddN of more inputs than a shader may bind (maxStorageBuffersPerShaderStage
 * less the output; 8 on some devices): summed in groups, in order.
 */
function addN(fallback: KernelFunc): KernelFunc {
  const run = (args: KernelArgs, tensors: TensorInfo[]): TensorInfo => fallback({ ...args, inputs: tensors as unknown as KernelArgs['inputs'] }) as TensorInfo;
  return (args) => {
    const backend = args.backend as unknown as DensekitWebGPUBackend;
    const max = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    let tensors = args.inputs as unknown as TensorInfo[];
    const made: TensorInfo[] = [];
    while (tensors.length > max) {
      const next: TensorInfo[] = [];
      for (let i = 0; i < tensors.length; i += max) {
        const group = tensors.slice(i, i + max);
        if (group.length === 1) next.push(group[0]!);
        else {
          const s = run(args, group);
          made.push(s);
          next.push(s);
        }
      }
      tensors = next;
    }
    const out = run(args, tensors);
    for (const t of made) backend.disposeData(t.dataId);
    return out;
  };
}

/**
 * PadV2 on tensors of rank 5 and 6: tfjs' shader indexes a struct it cannot
 * index (`cannot index type 'vec6'`). Padded one axis at a time on a 3-D view.
 */
function padV2(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { paddings, constantValue } = args.attrs as { paddings: [number, number][]; constantValue: number };
    if (x.shape.length <= 4) return fallback(args);
    const backend = args.backend as unknown as DensekitWebGPUBackend;
    let cur = x;
    let shape = x.shape.slice();
    const made: TensorInfo[] = [];
    paddings.forEach(([before, after], axis) => {
      if (before === 0 && after === 0) return;
      const view = reshape(backend, cur, [size(shape.slice(0, axis)), shape[axis]!, size(shape.slice(axis + 1))]);
      made.push(view);
      const padded = fallback({ ...args, inputs: { x: view }, attrs: { paddings: [[0, 0], [before, after], [0, 0]], constantValue } } as unknown as KernelArgs) as TensorInfo;
      made.push(padded);
      shape = shape.map((d, i) => (i === axis ? d + before + after : d));
      cur = padded;
    });
    const out = reshape(backend, cur, shape);
    for (const t of made) backend.disposeData(t.dataId);
    return out;
  };
}

/**
 * MatMul without split-K. tfjs picks a split-K program (partial sums added
 * with atomics, in a varying order) for a single product with few output
 * tiles and a long inner dimension; the same inputs then give different
 * results from run to run. The other programs tfjs picks from sum in a fixed
 * order: where split-K would be chosen, the small-output program is used.
 */
function noSplitK(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const flag = tf.env().getNumber('WEBGPU_MATMUL_PROGRAM_TYPE');
    if (flag >= 0) return fallback(args);
    const a = args.inputs.a as TensorInfo;
    const b = args.inputs.b as TensorInfo;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length;
    const rb = b.shape.length;
    const innerB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
    const outerA = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const outerB = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const batch = Math.max(size(a.shape.slice(0, -2)), size(b.shape.slice(0, -2)));
    const backend = args.backend as unknown as DensekitWebGPUBackend;
    const thresholdFlag = tf.env().getNumber('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL');
    const threshold = thresholdFlag > 0 ? thresholdFlag : backend.thresholdToIncreaseWorkgroups;
    const tiles = batch * Math.ceil(outerA / 32) * Math.ceil(outerB / 32);
    const few = tiles <= threshold || (outerA <= 8 && tiles <= threshold * 2);
    const splitK = few && batch * outerA * outerB > 128 && batch === 1 && innerB >= 2000;
    if (!splitK) return fallback(args);
    tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', 2 /* MatMulSmallOutputSizeProgram */);
    try {
      return fallback(args);
    } finally {
      tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', flag);
    }
  };
}

let installed = false;

/**
 * densekit's kernel changes for the webgpu backend (once, after tfjs'
 * kernels are registered): deterministic ScatterNd, UnsortedSegmentSum and
 * MatMul; AddN of any number of inputs; PadV2 of rank 5 and 6; and every
 * kernel records its name and input shapes for error messages.
 */
export function installWebGpuKernels(util: WebGpuUtil): void {
  if (installed) return;
  installed = true;
  replace('ScatterNd', scatterNd(util, original('ScatterNd')));
  replace('UnsortedSegmentSum', unsortedSegmentSum(util, original('UnsortedSegmentSum')));
  replace('AddN', addN(original('AddN')));
  replace('PadV2', padV2(original('PadV2')));
  replace('BatchMatMul', noSplitK(original('BatchMatMul')));
  replace('_FusedMatMul', noSplitK(original('_FusedMatMul')));
  for (const k of tf.getKernelsForBackend('webgpu')) {
    const f = k.kernelFunc;
    replace(k.kernelName, (args) => inKernel(k.kernelName, args.inputs as Record<string, TensorInfo>, () => f(args)));
  }
}
