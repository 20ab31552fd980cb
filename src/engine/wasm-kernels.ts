import { tf } from './tf.js';

/** The part of the wasm backend a shared-buffer kernel needs. */
interface RefCountingBackend {
  incRef(dataId: object): void;
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
 */
export function installWasmKernels(): void {
  if (installed) return;
  installed = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as RefCountingBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}
