import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { switchBackend } from '../../src/engine/backend.js';
import { memoryStage, wasmHeapStats, WasmKernelError, WasmOutOfMemoryError, WASM_HEAP_CAP, WASM_HEAP_MAX } from '../../src/engine/wasm-memory.js';

/**
 * The wasm backend's allocation checks. Large tensors here are allocated
 * without values (the backend's `write(null, …)`), so their pages are never
 * touched: the heap grows to its cap in address space, not in resident
 * memory. This file runs in a process of its own (vitest's forks pool), so
 * the grown heap goes with it.
 */

const MB = 2 ** 20;

interface WasmBackend {
  write(values: null, shape: number[], dtype: 'float32'): object;
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPU8: Uint8Array };
}

const backend = () => tf.backend() as unknown as WasmBackend;

/** A float32 tensor of `mb` MB whose memory is allocated but never written. */
function blank(mb: number): tf.Tensor {
  const shape = [mb * MB / 4];
  const dataId = backend().write(null, shape, 'float32');
  return tf.engine().makeTensorFromDataId(dataId, shape, 'float32', tf.backend());
}

/** The tensor's buffer lies inside the heap. */
function inHeap(t: tf.Tensor): boolean {
  const off = backend().getMemoryOffset(t.dataId);
  return off > 0 && off + t.size * 4 <= backend().wasm.HEAPU8.length;
}

function sumOf(t: tf.Tensor): number {
  return tf.tidy(() => tf.sum(t).dataSync()[0]!);
}

beforeAll(async () => {
  await switchBackend('wasm');
});

describe('wasm allocation checks', () => {
  it('refuses a tensor larger than the heap with a clear error and stays usable', () => {
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      memoryStage('huge', () => tf.zeros([2 ** 30 + 8]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WasmOutOfMemoryError);
    const msg = (err as Error).message;
    expect(msg).toContain('in huge');
    expect(msg).toContain('4096 MB');
    expect(msg).toContain('float32 tensor of shape [1073741832]');
    expect(tf.memory().numTensors).toBe(before);
    expect(sumOf(tf.tidy(() => tf.add(tf.ones([1000]), 1)))).toBe(2000);
  });

  it('fills the heap to its cap, then fails cleanly in the named stage; everything else stays intact', () => {
    const kept: tf.Tensor[] = [];
    const probe = tf.tensor1d([1, 2, 3, 4]);
    let err: unknown;
    try {
      memoryStage('inference', () =>
        memoryStage('backbone', () => {
          for (let i = 0; i < 100; i++) kept.push(blank(100));
        }),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WasmOutOfMemoryError);
    expect((err as WasmOutOfMemoryError).stage).toBe('inference > backbone');
    expect((err as Error).message).toMatch(/in inference > backbone: cannot allocate 100 MB for a float32 tensor of shape \[26214400\] \(.*\); tensors hold \d+ MB and the heap has grown to \d+ MB/);
    // Every block handed out lies inside the heap, which never passed its cap.
    expect(kept.length).toBeGreaterThan(30);
    expect(kept.every(inHeap)).toBe(true);
    expect(backend().wasm.HEAPU8.length).toBeLessThanOrEqual(WASM_HEAP_CAP);
    // A large block near the ceiling is refused rather than risking a wrapped break pointer.
    for (const t of kept.splice(0, 10)) t.dispose();
    expect(() => blank(600)).toThrow(/cannot be placed safely/);
    // Freed memory is reused, and what was there before is intact.
    kept.push(blank(100));
    expect(kept.every(inHeap)).toBe(true);
    expect(Array.from(probe.dataSync())).toEqual([1, 2, 3, 4]);
    for (const t of kept) t.dispose();
    expect(sumOf(tf.tidy(() => tf.matMul(tf.ones([64, 32]), tf.ones([32, 16]))))).toBe(64 * 16 * 32);
    const stats = wasmHeapStats()!;
    expect(stats.capBytes).toBe(WASM_HEAP_CAP);
    expect(stats.capBytes).toBeLessThan(WASM_HEAP_MAX);
    expect(stats.peakTensorBytes).toBeGreaterThan(3000 * MB);
    probe.dispose();
  });

  it('turns a kernel that could not allocate its own buffers into an error at the next allocation', () => {
    // What the wasm module prints when an XNNPACK operator cannot be created.
    console.warn('XNN status for xnn_create_fully_connected_nc_f32 is not successful. Got status 6. Use -c dbg to see XNN logs.');
    expect(() => memoryStage('roi heads', () => tf.ones([4]))).toThrow(WasmKernelError);
    expect(Array.from(tf.ones([2]).dataSync())).toEqual([1, 1]);
  });
});
