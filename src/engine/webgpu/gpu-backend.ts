import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { tf } from '../tf.js';
import { waitSync } from './dawn.js';
import { currentKernel } from './kernel-context.js';

type TensorInfo = tf.TensorInfo;
type BackendValues = ReturnType<WebGPUBackend['readSync']>;

/** Members of tfjs' WebGPUBackend that its typings mark private. */
interface BackendInternals {
  commandEncoder: GPUCommandEncoder | null;
}

/** The part of tfjs' buffer pool densekit bounds. */
interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
}

export interface GpuMemory {
  /** Bytes in buffers that hold live data (tensors, uniforms in flight). */
  live: number;
  /** Bytes in freed buffers kept for reuse. */
  pooled: number;
  /** The most `live + pooled` has been since the last `resetPeak`. */
  peakAllocated: number;
  /** The most `live` has been since the last `resetPeak`. */
  peakLive: number;
}

const MiB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 1 : 0)} MiB`;
}

/**
 * Bounds tfjs' buffer pool. tfjs keeps every freed buffer for reuse, keyed
 * by its exact size, and never frees one: with shapes that change from
 * iteration to iteration (proposal and ROI counts) the pool only grows
 * (measured on the tiny detector: 105 → 351 MB over 12 iterations with
 * 10.4 MB live). Here the pool keeps at most what the peak of live bytes
 * leaves room for (at least 64 MiB): GPU memory stays at the peak the work
 * needs, and a workload that repeats its shapes still reuses every buffer.
 * The oldest freed buffers go first.
 */
export class PoolBound {
  private readonly free = new Map<GPUBuffer, string>();
  private freeBytes = 0;
  peakLive = 0;
  peakAllocated = 0;
  floor = 64 * MiB;

  constructor(private readonly pool: BufferPool) {
    const acquire = pool.acquireBuffer.bind(pool);
    const release = pool.releaseBuffer.bind(pool);
    pool.acquireBuffer = (size, usage, mappedAtCreation, reuse) => {
      const b = acquire(size, usage, mappedAtCreation, reuse);
      if (this.free.delete(b)) this.freeBytes -= b.size;
      this.peakLive = Math.max(this.peakLive, pool.numBytesUsed);
      this.peakAllocated = Math.max(this.peakAllocated, pool.numBytesAllocated);
      return b;
    };
    pool.releaseBuffer = (buffer, reuse = true) => {
      const before = pool.numFreeBuffers;
      release(buffer, reuse);
      if (pool.numFreeBuffers > before) {
        this.free.set(buffer, `${buffer.size}_${buffer.usage}`);
        this.freeBytes += buffer.size;
        this.trim(Math.max(this.floor, this.peakLive - pool.numBytesUsed));
      }
    };
  }

  /** Destroy pooled buffers, oldest first, until at most `budget` bytes are pooled. */
  trim(budget = 0): void {
    if (this.freeBytes <= budget) return;
    for (const [buffer, key] of this.free) {
      if (this.freeBytes <= budget) break;
      const list = this.pool.freeBuffers.get(key);
      const i = list ? list.indexOf(buffer) : -1;
      if (i >= 0) {
        list!.splice(i, 1);
        this.pool.numFreeBuffers--;
        this.pool.numBytesAllocated -= buffer.size;
        buffer.destroy();
      }
      this.free.delete(buffer);
      this.freeBytes -= buffer.size;
    }
  }

  memory(): GpuMemory {
    return { live: this.pool.numBytesUsed, pooled: this.freeBytes, peakAllocated: this.peakAllocated, peakLive: this.peakLive };
  }

  resetPeak(): void {
    this.peakLive = this.pool.numBytesUsed;
    this.peakAllocated = this.pool.numBytesAllocated;
  }
}

/** A GPU error that makes every later result untrustworthy. */
export class WebGpuFatalError extends Error {
  override name = 'WebGpuFatalError';
}

/**
 * Build densekit's WebGPU backend class on tfjs' (loaded at run time, after
 * Dawn's globals exist). What it changes:
 * - `readSync` copies the tensor to a mappable buffer and waits for the
 *   mapping synchronously (tfjs' own uses OffscreenCanvas, which Node lacks);
 * - every program's inputs and output are checked against the device's
 *   buffer limits first, and fail with a message naming the kernel and the
 *   tensor instead of a validation error;
 * - a validation or out-of-memory error reported by the device (which tfjs
 *   ignores, leaving garbage results) is fatal: it is thrown by the next
 *   kernel or read, and by every one after it;
 * - the buffer pool is bounded (see PoolBound).
 */
export function defineBackendClass(Base: typeof WebGPUBackend): new (device: GPUDevice, adapterInfo: GPUAdapterInfo) => DensekitWebGPUBackend {
  return class extends Base implements DensekitWebGPUBackend {
    readonly pool: PoolBound;
    private fatal: WebGpuFatalError | undefined;
    private destroyedByUs = false;
    /** Synchronous reads so far (each drains the GPU queue). */
    syncReads = 0;
    /** Milliseconds spent in synchronous reads (waiting for the GPU included). */
    syncReadMs = 0;

    constructor(device: GPUDevice, adapterInfo: GPUAdapterInfo) {
      super(device, adapterInfo);
      this.pool = new PoolBound(this.bufferManager as unknown as BufferPool);
      device.addEventListener('uncapturederror', (event) => {
        const e = (event as GPUUncapturedErrorEvent).error;
        event.preventDefault();
        this.fail(`the GPU rejected a command (${e.constructor.name}${currentKernel() ? `, in ${currentKernel()}` : ''}): ${e.message.trim()}`);
      });
      void device.lost.then((info) => {
        if (!this.destroyedByUs) this.fail(`the GPU device was lost (${info.reason}): ${info.message}`);
      });
    }

    private fail(message: string): void {
      if (!this.fatal) this.fatal = new WebGpuFatalError(`webgpu: ${message}. Results computed from here on would be wrong; stopping.`);
    }

    /** Throw the first device error, if one was reported. */
    checkErrors(): void {
      if (this.fatal) throw this.fatal;
    }

    override runWebGPUProgram(program: WebGPUProgram, inputs: TensorInfo[], outputDtype: tf.DataType, uniforms?: Array<{ type: string; data: number[] }>, output?: TensorInfo): TensorInfo {
      this.checkErrors();
      const limit = this.device.limits.maxStorageBufferBindingSize;
      const check = (shape: number[], role: string): void => {
        const bytes = 4 * shape.reduce((a, b) => a * b, 1);
        if (bytes > limit) {
          throw new Error(
            `webgpu: ${currentKernel() ?? program.constructor.name}: its ${role} [${shape.join(', ')}] needs ${mib(bytes)}, ` +
              `more than this GPU allows in one buffer binding (maxStorageBufferBindingSize ${mib(limit)}). ` +
              'Use a smaller input size or batch, or run on wasm/tensorflow.',
          );
        }
      };
      check(output?.shape ?? program.outputShape, 'output');
      inputs.forEach((t, i) => check(t.shape, `input ${program.variableNames[i] ?? i}`));
      const out = super.runWebGPUProgram(program, inputs, outputDtype, uniforms, output);
      this.checkErrors();
      return out;
    }

    override readSync(dataId: object): BackendValues {
      this.checkErrors();
      const data = this.tensorMap.get(dataId);
      if (data.values != null || data.dtype === 'string' || data.dtype === 'complex64') return super.readSync(dataId);
      const source = data.resource;
      if (!(source instanceof GPUBuffer)) throw new Error('webgpu: readSync of a tensor that is not in a GPU buffer');
      const t0 = performance.now();
      const size = source.size;
      const staging = this.bufferManager.acquireBuffer(size, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
      this.ensureCommandEncoderReady();
      this.endComputePassEncoder();
      (this as unknown as BackendInternals).commandEncoder!.copyBufferToBuffer(source, 0, staging, 0, size);
      this.submitQueue();
      staging.mapAsync(GPUMapMode.READ).catch(() => {
        /* seen below through mapState */
      });
      waitSync(() => staging.mapState !== 'pending' || this.fatal !== undefined, 'reading a tensor back');
      this.checkErrors();
      if (staging.mapState !== 'mapped') throw new WebGpuFatalError('webgpu: reading a tensor back failed (the mapping was rejected)');
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      this.bufferManager.releaseBuffer(staging);
      this.syncReads++;
      this.syncReadMs += performance.now() - t0;
      const values = tf.util.convertBackendValuesAndArrayBuffer(bytes, data.dtype) as BackendValues;
      data.values = values;
      return values;
    }

    override async read(dataId: object): Promise<BackendValues> {
      this.checkErrors();
      const v = await super.read(dataId);
      this.checkErrors();
      return v;
    }

    /** Free every pooled buffer now. */
    trimPool(): void {
      this.pool.trim(0);
    }

    override dispose(): void {
      this.destroyedByUs = true;
      super.dispose();
    }

    markDestroyed(): void {
      this.destroyedByUs = true;
    }
  };
}

/** densekit's webgpu backend: tfjs' with the changes listed at `defineBackendClass`. */
export interface DensekitWebGPUBackend extends WebGPUBackend {
  readonly pool: PoolBound;
  /** Synchronous reads so far (each drains the GPU queue). */
  syncReads: number;
  /** Milliseconds spent in synchronous reads (waiting for the GPU included). */
  syncReadMs: number;
  /** Throw the first device error, if one was reported. */
  checkErrors(): void;
  /** Free every pooled buffer now. */
  trimPool(): void;
  /** The device is being destroyed on purpose: its loss is no error. */
  markDestroyed(): void;
}
