import { tf } from '../../src/engine/tf.js';

interface WasmModule {
  _malloc(n: number): number;
  _free(p: number): void;
}

/**
 * Live bytes of the wasm backend's heap, counted at its malloc and free (so
 * buffers shared between tensors count once, unlike tf.memory().numBytes).
 * `stop()` restores the allocator.
 */
export function trackWasmHeap(): { live(): number; peak(): number; resetPeak(): void; stop(): void } {
  if (tf.getBackend() !== 'wasm') throw new Error('trackWasmHeap needs the wasm backend');
  const wasm = (tf.backend() as unknown as { wasm: WasmModule }).wasm;
  // The module's exports replace themselves on first call; settle them first.
  wasm._free(wasm._malloc(16));
  const malloc = wasm._malloc;
  const free = wasm._free;
  const sizes = new Map<number, number>();
  let live = 0;
  let peak = 0;
  wasm._malloc = (n: number) => {
    const p = malloc(n);
    sizes.set(p >>> 0, n);
    live += n;
    if (live > peak) peak = live;
    return p;
  };
  wasm._free = (p: number) => {
    const n = sizes.get(p >>> 0);
    if (n !== undefined) {
      live -= n;
      sizes.delete(p >>> 0);
    }
    free(p);
  };
  return {
    live: () => live,
    peak: () => peak,
    resetPeak: () => void (peak = live),
    stop: () => {
      wasm._malloc = malloc;
      wasm._free = free;
    },
  };
}
