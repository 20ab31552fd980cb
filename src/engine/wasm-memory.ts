import { tf } from './tf.js';
import { DensekitError } from '../util/errors.js';

/**
 * Allocation checks for the wasm backend.
 *
 * What goes wrong without them (tfjs-backend-wasm 4.22, measured):
 *  - Its allocator (emscripten's emmalloc) grows the heap with `sbrk`, whose
 *    32-bit break pointer wraps around when break + request passes 4 GB.
 *    `malloc` then succeeds with a block that runs past the end of memory,
 *    and emmalloc writes its end-of-heap marker at the wrapped address, in
 *    the middle of live tensors. Near the ceiling any request can do this
 *    (100 MB blocks: the 40th returned an address 4 GB − 100 MB into a
 *    4 GB heap). The process fails later with "memory access out of bounds"
 *    somewhere else, after computing with corrupted memory.
 *  - When the heap cannot grow, `malloc` returns 0 and the backend registers
 *    the tensor at address 0, writes its values over the module's static
 *    data, and kernels write their outputs there.
 *  - Sizes of 4 GB or more are truncated to 32 bits on their way into wasm.
 *
 * The guard:
 *  - caps the heap's growth at `WASM_HEAP_CAP` (the ceiling less
 *    `WRAP_MARGIN`): the break then stays below the cap, and no request
 *    smaller than the margin can wrap — it either fits or fails with 0;
 *  - allows a request of the margin or more only while heap + request stays
 *    under the ceiling (then it cannot wrap either);
 *  - checks every tensor allocation (the backend's `move`, which `write` and
 *    `makeOutput` use, and the module's `_malloc` it calls) and fails with a
 *    `WasmOutOfMemoryError` naming the stage, the tensor, its size and the
 *    heap in use — nothing is registered or written;
 *  - keeps `RESERVE` bytes allocatable after each tensor once the heap is
 *    near its cap: kernels allocate their own buffers inside wasm (XNNPACK's
 *    packed weights, kept while the weight tensor lives; workspaces), where
 *    nothing can check them, after their output tensor was allocated;
 *  - turns XNNPACK's "status is not successful" warnings (a kernel whose own
 *    buffers could not be allocated returns without writing its output) into
 *    an error at the next allocation or read, when the warning can be seen
 *    (the backend must be created after `watchKernelWarnings` ran, as
 *    `initBackend` does).
 */

/** wasm32's ceiling as the module enforces it (emscripten's getHeapMax()). */
export const WASM_HEAP_MAX = 4294901760;
/** Requests below this can never wrap the break pointer while the heap stays under the cap. */
const WRAP_MARGIN = 256 * 2 ** 20;
/** The heap never grows beyond this. */
export const WASM_HEAP_CAP = WASM_HEAP_MAX - WRAP_MARGIN;
/** Headroom kept for the kernels' own buffers (the largest is a packed matmul operand). */
const DEFAULT_RESERVE = 64 * 2 ** 20;
/** Allocator overhead per request, rounded up (emmalloc asks sbrk for size + 48). */
const SLACK = 64 * 1024;

/** The module's WebAssembly.Memory (typed here: the DOM lib is not loaded). */
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WasmModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  asm?: { memory?: WasmMemory };
}

interface WasmBackendLike {
  wasm: WasmModule;
  move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void;
  readSync(dataId: object, start?: number, end?: number): unknown;
}

/** What the guard knows about the heap. */
export interface WasmHeapStats {
  /** Bytes of tensor buffers alive now (allocated through the backend; a buffer shared by tensors counts once). */
  tensorBytes: number;
  /** Largest `tensorBytes` since the guard started or `resetWasmPeak()`. */
  peakTensorBytes: number;
  /** Bytes the heap has grown to (it never shrinks): tensors, the kernels' own buffers and free space. */
  heapBytes: number;
  /** The most the heap may grow to. */
  capBytes: number;
}

/**
 * Memory the wasm backend cannot provide, found before anything was written:
 * the backend stays usable (free tensors, or use smaller inputs, and go on).
 */
export class WasmOutOfMemoryError extends DensekitError {
  constructor(
    message: string,
    readonly requestedBytes: number,
    readonly stage: string | undefined,
  ) {
    super(message);
    this.name = 'WasmOutOfMemoryError';
  }
}

/** A wasm kernel that returned without computing its output (its own buffers could not be allocated). */
export class WasmKernelError extends DensekitError {
  constructor(message: string) {
    super(message);
    this.name = 'WasmKernelError';
  }
}

const stages: string[] = [];
let reserveBytes = DEFAULT_RESERVE;
let guard: Guard | undefined;
let kernelWarning: string | undefined;
let watching = false;

/** Per stage (its full name, "a > b"): how often it ran, for how long in all, its largest peak of tensor bytes, and the heap after it. */
export interface WasmStageStats {
  runs: number;
  ms: number;
  peakTensorBytes: number;
  heapBytes: number;
}
const stageStats = new Map<string, WasmStageStats>();

/**
 * Run `fn` as a named stage: an allocation that fails inside it names the
 * stage (with its parents: "semantic inference > backbone"), and on the wasm
 * backend the stage's peak tensor bytes are recorded (`wasmStageStats`).
 */
export function memoryStage<T>(name: string, fn: () => T): T {
  const end = beginStage(name);
  try {
    return fn();
  } finally {
    end();
  }
}

/**
 * `memoryStage` for work that awaits (a stage that runs on another engine in
 * part): the stage stays named until the promise settles. Stages are a
 * stack: run one pipeline at a time.
 */
export async function memoryStageAsync<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const end = beginStage(name);
  try {
    return await fn();
  } finally {
    end();
  }
}

/** Enter stage `name`; the returned function leaves it and records its time and peak. */
function beginStage(name: string): () => void {
  stages.push(name);
  const g = guard;
  const outerPeak = g?.peak ?? 0;
  if (g) g.peak = g.live;
  const t0 = performance.now();
  return () => {
    const full = stages.join(' > ');
    stages.pop();
    if (g) {
      const s = stageStats.get(full) ?? { runs: 0, ms: 0, peakTensorBytes: 0, heapBytes: 0 };
      stageStats.set(full, { runs: s.runs + 1, ms: s.ms + performance.now() - t0, peakTensorBytes: Math.max(s.peakTensorBytes, g.peak), heapBytes: g.heapBytes() });
      g.peak = Math.max(outerPeak, g.peak);
    }
  };
}

/** What `memoryStage` recorded since the last `resetWasmStageStats()`. */
export function wasmStageStats(): Map<string, WasmStageStats> {
  return new Map(stageStats);
}

export function resetWasmStageStats(): void {
  stageStats.clear();
}

/** The stage running now ("a > b"), or undefined outside any stage. */
export function currentStage(): string | undefined {
  return stages.length > 0 ? stages.join(' > ') : undefined;
}

/**
 * Observe the wasm module's warnings for XNNPACK failures. The module binds
 * `console.warn` when it is created, so this must run before the wasm
 * backend is initialised; every message is still printed.
 */
export function watchKernelWarnings(): void {
  if (watching) return;
  watching = true;
  const warn = console.warn;
  console.warn = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    if (typeof first === 'string' && first.startsWith('XNN status')) kernelWarning = first;
    return warn.apply(this, args as []);
  };
}

const MB = (n: number) => `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MB`;

class Guard {
  private readonly sizes = new Map<number, number>();
  live = 0;
  peak = 0;
  /** The tensor being allocated (set by move) for the error message. */
  private pending: { shape: number[]; dtype: string } | undefined;

  constructor(readonly backend: WasmBackendLike) {
    const wasm = backend.wasm;
    // The module's exports replace themselves on their first call: settle them
    // before keeping references to them.
    wasm._free(wasm._malloc(16));
    const malloc = wasm._malloc.bind(wasm);
    const free = wasm._free.bind(wasm);
    capGrowth(wasm);
    wasm._malloc = (n: number) => this.allocate(malloc, free, n);
    wasm._free = (p: number) => {
      const n = this.sizes.get(p >>> 0);
      if (n !== undefined) {
        this.live -= n;
        this.sizes.delete(p >>> 0);
      }
      free(p);
    };
    const move = backend.move.bind(backend);
    backend.move = (dataId, values, shape, dtype, refCount) => {
      this.pending = { shape, dtype };
      try {
        move(dataId, values, shape, dtype, refCount);
      } finally {
        this.pending = undefined;
      }
    };
    const readSync = backend.readSync.bind(backend);
    backend.readSync = (dataId, start, end) => {
      throwKernelFailure();
      return readSync(dataId, start, end);
    };
  }

  heapBytes(): number {
    return this.backend.wasm.HEAPU8.length;
  }

  private allocate(malloc: (n: number) => number, free: (p: number) => void, n: number): number {
    throwKernelFailure();
    // Beyond the ceiling the size would be truncated to 32 bits by the call.
    if (n >= WASM_HEAP_CAP) throw this.error(n, 'larger than the wasm heap can hold');
    // A large request could wrap the break pointer unless heap + request stays under the ceiling.
    if (n + SLACK >= WRAP_MARGIN && this.heapBytes() + n + SLACK > WASM_HEAP_MAX) {
      throw this.error(n, `a block this large cannot be placed safely once the heap has grown to ${MB(this.heapBytes())}`);
    }
    const p = malloc(n) >>> 0;
    if (p === 0 && n > 0) throw this.error(n, 'the heap cannot grow any further');
    if (this.heapBytes() + reserveBytes > WASM_HEAP_CAP) {
      // Near the cap: keep room for the kernels' own (unchecked) buffers.
      const probe = malloc(reserveBytes) >>> 0;
      if (probe === 0) {
        free(p);
        throw this.error(n, `it would leave less than ${MB(reserveBytes)} for the kernels' own buffers`);
      }
      free(probe);
    }
    this.sizes.set(p, n);
    this.live += n;
    if (this.live > this.peak) this.peak = this.live;
    return p;
  }

  private error(n: number, why: string): WasmOutOfMemoryError {
    const stage = currentStage();
    const what = this.pending ? `a ${this.pending.dtype} tensor of shape [${this.pending.shape.join(', ')}]` : 'a buffer';
    const where = stage ? ` in ${stage}` : '';
    return new WasmOutOfMemoryError(
      `out of memory on the wasm backend${where}: cannot allocate ${MB(n)} for ${what} (${why}); ` +
        `tensors hold ${MB(this.live)} and the heap has grown to ${MB(this.heapBytes())} of the ${MB(WASM_HEAP_CAP)} it may use. ` +
        'Use a smaller input size or model, or a GPU backend.',
      n,
      stage,
    );
  }
}

/** Refuse to grow the module's memory beyond WASM_HEAP_CAP: emscripten then fails the allocation with 0. */
function capGrowth(wasm: WasmModule): void {
  const memory = wasm.asm?.memory;
  if (!memory) throw new Error('wasm backend: the module does not expose its memory; cannot guard its allocations');
  const grow = memory.grow;
  memory.grow = function (this: WasmMemory, delta: number): number {
    if (this.buffer.byteLength + delta * 65536 > WASM_HEAP_CAP) throw new RangeError('densekit: wasm heap cap reached');
    return grow.call(this, delta);
  };
}

function throwKernelFailure(): void {
  if (kernelWarning === undefined) return;
  const w = kernelWarning;
  kernelWarning = undefined;
  const stage = currentStage();
  throw new WasmKernelError(
    `a wasm kernel${stage ? ` in ${stage}` : ''} returned without computing its output (${w.trim()}); ` +
      'most likely its own buffers did not fit in the wasm heap. Use a smaller input size or model, or a GPU backend.',
  );
}

/**
 * Put the allocation checks on a wasm backend instance (idempotent). Called
 * when the backend is set up (see wasm-kernels.ts); a no-op for anything
 * that is not a wasm backend.
 */
export function guardWasmBackend(backend: unknown): void {
  const b = backend as Partial<WasmBackendLike> | undefined;
  if (!b || !b.wasm || typeof b.wasm._malloc !== 'function' || typeof b.move !== 'function') return;
  if (guard?.backend === b) return;
  guard = new Guard(b as WasmBackendLike);
}

/** Heap figures of the guarded wasm backend, or undefined when it is not the backend in use. */
export function wasmHeapStats(): WasmHeapStats | undefined {
  if (!guard || tf.getBackend() !== 'wasm') return undefined;
  return { tensorBytes: guard.live, peakTensorBytes: guard.peak, heapBytes: guard.heapBytes(), capBytes: WASM_HEAP_CAP };
}

/** Start a new peak measurement of tensor bytes. */
export function resetWasmPeak(): void {
  if (guard) guard.peak = guard.live;
}

/** Headroom kept for the kernels' own buffers near the cap (default 64 MB); returns the previous value. */
export function setWasmReserve(bytes: number): number {
  const prev = reserveBytes;
  reserveBytes = Math.max(0, Math.floor(bytes));
  return prev;
}
