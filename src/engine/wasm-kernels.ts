import { tf } from './tf.js';
import { guardWasmBackend, watchKernelWarnings } from './wasm-memory.js';

/** The part of the wasm backend the replacement kernels use. */
interface WasmBackend {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

let installed = false;

/**
 * Kernel replacements for the wasm backend, installed once after it loads.
 *
 * Identity: wasm's copies the buffer. tfjs clones every tensor a custom
 * gradient saves (tf.customGrad's `save`), so each checkpointed step would
 * keep a full copy of its input — for ROIAlign, a copy of the whole feature
 * map per group of boxes. Tensors are immutable (a variable's assign swaps
 * its buffer), so sharing the buffer with a reference count, as the cpu
 * backend and wasm's own Reshape do, is a safe identity.
 *
 * Slice: wasm's copies its whole input out of the heap on every call (a
 * 10 MB copy to take one head of an attention's queries), and slices of rank
 * 5 or more go through a generic per-element loop (3.2 s for the nine taps
 * of a 3x3 max pool at 448²). This one reads the input in place and copies
 * contiguous runs; a slice that is the whole tensor shares its buffer.
 *
 * The registration also puts the allocation checks of wasm-memory.ts on the
 * backend: tfjs calls a kernel's `setupFunc` whenever the backend is set.
 * Call this before the wasm backend is first initialised, so that the
 * module's warnings (XNNPACK failures) can be observed.
 */
export function installWasmKernels(): void {
  if (installed) return;
  installed = true;
  watchKernelWarnings();
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    setupFunc: guardWasmBackend,
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as WasmBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  const wasmSlice = tf.getKernel('Slice', 'wasm');
  if (wasmSlice) {
    tf.unregisterKernel('Slice', 'wasm');
    tf.registerKernel({
      kernelName: 'Slice',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const x = args.inputs.x as tf.TensorInfo;
        if (x.dtype === 'string' || x.dtype === 'complex64') return wasmSlice.kernelFunc(args);
        const attrs = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
        const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
        const backend = args.backend as unknown as WasmBackend;
        if (size.every((s, i) => s === x.shape[i])) {
          // The whole tensor: share its (immutable) buffer, as Identity does.
          backend.incRef(x.dataId);
          return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
        }
        const out = backend.makeOutput(size, x.dtype);
        // Views only after the output exists: allocating may grow (and move) the heap.
        sliceInto(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), x.shape, begin, size);
        return out;
      },
    });
  }
}

/** Copy the box `begin … begin+size` of a row-major array of `shape` into `dst`, in runs. */
export function sliceInto(src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, dst: { set(a: ArrayLike<number>, o: number): void; [i: number]: number }, shape: number[], begin: number[], size: number[]): void {
  const rank = shape.length;
  if (rank === 0 || size.some((s) => s === 0)) return;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  // Trailing axes taken whole join the contiguous run.
  let d = rank - 1;
  let inner = 1;
  while (d > 0 && begin[d] === 0 && size[d] === shape[d]) {
    inner *= shape[d]!;
    d--;
  }
  const run = size[d]! * inner;
  const start = begin[d]! * strides[d]!;
  let outer = 1;
  for (let j = 0; j < d; j++) outer *= size[j]!;
  const idx = new Array<number>(d).fill(0);
  let o = 0;
  for (let k = 0; k < outer; k++) {
    let off = start;
    for (let j = 0; j < d; j++) off += (begin[j]! + idx[j]!) * strides[j]!;
    if (run >= 16) dst.set(src.subarray(off, off + run), o);
    else for (let e = 0; e < run; e++) dst[o + e] = (src as ArrayLike<number>)[off + e]!;
    o += run;
    for (let j = d - 1; j >= 0; j--) {
      if (++idx[j]! < size[j]!) break;
      idx[j] = 0;
    }
  }
}
