import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/**
 * Dawn's Node bindings (the npm package `webgpu`, binaries inside it) as
 * densekit uses them: loading, the adapter probe, and a way to wait for the
 * GPU synchronously.
 *
 * How Dawn delivers results: every pending promise (a buffer mapping, a
 * device request, the device's `lost` promise, which never settles) keeps a
 * chain of `setImmediate` callbacks alive, each of which processes Dawn's
 * events once and schedules the next. Dawn looks `setImmediate` up on the
 * global object each time. densekit puts a transparent wrapper there, which
 * 1. remembers the latest Dawn callback, so that a synchronous read can run
 *    it itself, as often as needed, while it waits (no native helper, no
 *    event-loop turn: tfjs reads tensors synchronously mid-computation);
 * 2. unreferences that callback while no promise densekit knows of is
 *    pending, so that Node exits when its work is done although the device's
 *    `lost` promise keeps the chain going.
 */

/** What densekit uses of the WebGPU API: a few members, untyped elsewhere. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}

export interface GpuLimits {
  [name: string]: number;
}

export interface GpuBuffer {
  size: number;
  usage: number;
  mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GpuDevice {
  limits: GpuLimits;
  features: Set<string>;
  queue: { submit(buffers: unknown[]): void };
  lost: Promise<{ reason: string; message: string }>;
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message: string; constructor: { name: string } }; preventDefault(): void }) => void): void;
  destroy(): void;
}

export interface GpuAdapter {
  info: GpuAdapterInfo;
  limits: GpuLimits;
  features: Set<string>;
  requestDevice(descriptor?: { requiredLimits?: GpuLimits; requiredFeatures?: string[] }): Promise<GpuDevice>;
}

export interface Gpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapter | null>;
}

interface DawnModule {
  create(options: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** An adapter in words: what the backend line prints. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader, WARP). */
  software: boolean;
}

/** The limits densekit asks the device for: the adapter's largest. */
export const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

const require = createRequire(import.meta.url);

export function describeAdapterInfo(info: GpuAdapterInfo): AdapterDescription {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const software = info.isFallbackAdapter === true || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|\bwarp\b|softpipe/.test(text);
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software };
}

/** "nvidia ampere (NVIDIA GeForce RTX 3090)" or "mesa software (llvmpipe …), software". */
export function adapterWords(a: AdapterDescription): string {
  const name = a.description || a.device;
  return `${a.vendor || 'unknown vendor'} ${a.architecture || 'unknown architecture'}${name ? ` (${name})` : ''}${a.software ? ', a software rasterizer' : ', hardware'}`;
}

// ---------------------------------------------------------------------------
// Dawn's event ticks.

interface Tick {
  fn: () => void;
  consumed: boolean;
  handle: NodeJS.Immediate;
}

let latestTick: Tick | undefined;
let pendingPromises = 0;
let ticksInstalled = false;

function isDawnCallback(fn: unknown): fn is () => void {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).includes('[native code]');
}

function installTickHook(): void {
  if (ticksInstalled) return;
  ticksInstalled = true;
  const real = globalThis.setImmediate;
  const wrapper = function setImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
    if (!isDawnCallback(fn)) return real(fn, ...args);
    const tick: Tick = { fn, consumed: false, handle: undefined as unknown as NodeJS.Immediate };
    tick.handle = real(() => {
      if (tick.consumed) return;
      tick.consumed = true;
      fn();
    });
    if (pendingPromises === 0) tick.handle.unref();
    latestTick = tick;
    return tick.handle;
  } as typeof globalThis.setImmediate;
  const custom = (real as unknown as Record<symbol, unknown>)[promisify.custom];
  if (custom) Object.defineProperty(wrapper, promisify.custom, { value: custom });
  globalThis.setImmediate = wrapper;
}

/** Count a Dawn promise as pending until it settles (keeps Node alive meanwhile). */
function track<T>(p: Promise<T>): Promise<T> {
  pendingPromises++;
  if (pendingPromises === 1) latestTick?.handle.ref();
  const done = (): void => {
    pendingPromises--;
    if (pendingPromises === 0) latestTick?.handle.unref();
  };
  p.then(done, done);
  return p;
}

function trackMethod(proto: Record<string, unknown> | undefined, name: string): void {
  const original = proto?.[name];
  if (!proto || typeof original !== 'function') return;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    const r = (original as (...a: unknown[]) => unknown).apply(this, args);
    return r instanceof Promise ? track(r) : r;
  };
}

/** Run Dawn's event processing once, here and now. False when Dawn has nothing scheduled. */
function tickDawn(): boolean {
  const t = latestTick;
  if (!t || t.consumed) return false;
  t.consumed = true;
  t.fn();
  return true;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Block until `done()` holds, processing Dawn's events meanwhile. Between
 * checks the thread sleeps (20 µs at first, up to 1 ms), leaving the CPU to
 * the driver (software Vulkan computes on other threads of this process).
 */
export function waitSync(done: () => boolean, what: string): void {
  let sleepMs = 0.02;
  let idle = 0;
  while (!done()) {
    if (!tickDawn()) {
      // Nothing scheduled: Dawn has no pending work, so `done` cannot change.
      if (++idle > 1000) throw new Error(`webgpu: ${what} never completed (Dawn has no pending events)`);
    } else idle = 0;
    if (done()) return;
    Atomics.wait(sleeper, 0, 0, sleepMs);
    sleepMs = Math.min(1, sleepMs * 1.25);
  }
}

// ---------------------------------------------------------------------------
// Loading.

let dawn: DawnModule | undefined;

/** The path of the `webgpu` package's entry, or undefined when it is not installed. */
export function dawnPackagePath(): string | undefined {
  try {
    return require.resolve('webgpu');
  } catch {
    return undefined;
  }
}

/** Load Dawn in this process and install its globals (GPUBufferUsage, …). */
export async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  const path = dawnPackagePath();
  if (!path) throw new Error('the npm package "webgpu" is not installed');
  installTickHook();
  const mod = (await import(pathToFileURL(path).href)) as DawnModule;
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, writable: true, configurable: true });
  }
  const g = mod.globals as Record<string, { prototype?: Record<string, unknown> }>;
  trackMethod(g.GPU?.prototype, 'requestAdapter');
  trackMethod(g.GPUAdapter?.prototype, 'requestDevice');
  trackMethod(g.GPUBuffer?.prototype, 'mapAsync');
  trackMethod(g.GPUQueue?.prototype, 'onSubmittedWorkDone');
  trackMethod(g.GPUDevice?.prototype, 'createComputePipelineAsync');
  trackMethod(g.GPUDevice?.prototype, 'createRenderPipelineAsync');
  trackMethod(g.GPUDevice?.prototype, 'popErrorScope');
  trackMethod(g.GPUShaderModule?.prototype, 'getCompilationInfo');
  dawn = mod;
  return mod;
}

let gpu: Gpu | undefined;

/** `navigator.gpu`, created on first use (tfjs-backend-webgpu looks for it there). */
export async function navigatorGpu(): Promise<Gpu> {
  if (gpu) return gpu;
  const mod = await loadDawn();
  gpu = mod.create([]);
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return gpu;
}

/** Drop `navigator.gpu` (Dawn's instance goes when nothing else holds it). */
export function releaseNavigatorGpu(): void {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav && nav.gpu === gpu) {
    try {
      delete nav.gpu;
    } catch {
      /* a non-configurable property: leave it */
    }
  }
  gpu = undefined;
}

// ---------------------------------------------------------------------------
// The probe: is there an adapter, and what is it? Run in a child process so
// that a broken driver cannot take the caller down, and Dawn's own warnings
// (printed to stderr) stay out of a command's output.

export interface ProbeResult {
  adapter?: AdapterDescription;
  limits?: GpuLimits;
  features?: string[];
  /** Why there is no adapter, in words. */
  error?: string;
}

const PROBE_SOURCE = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!a) { process.stdout.write(JSON.stringify({ error: 'Dawn found none: is a Vulkan driver installed? (libvulkan1 and the GPU vendor\\'s ICD)' })); process.exit(0); }
const i = a.info;
const limits = {};
for (const k of ${JSON.stringify(REQUESTED_LIMITS)}) limits[k] = a.limits[k];
process.stdout.write(JSON.stringify({ info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter }, limits, features: [...a.features] }));
process.exit(0);
`;

/** Look for a WebGPU adapter in a child process (about 0.3 s). */
export function probeAdapter(timeoutMs = 30_000): ProbeResult {
  const path = dawnPackagePath();
  if (!path) return { error: 'the npm package "webgpu" is not installed' };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE_SOURCE, pathToFileURL(path).href], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: process.env,
  });
  if (r.error) return { error: `the adapter probe failed (${r.error.message})` };
  if (r.status !== 0) {
    const why = (r.stderr || '').split('\n').filter((l) => l.trim() && !/artificially reduced|XDG_RUNTIME_DIR/.test(l)).slice(-3).join(' / ');
    return { error: `the adapter probe exited with ${r.status ?? r.signal}${why ? `: ${why}` : ''}` };
  }
  try {
    const out = JSON.parse(r.stdout) as { info?: GpuAdapterInfo; limits?: GpuLimits; features?: string[]; error?: string };
    if (out.error || !out.info) return { error: out.error ?? 'no adapter' };
    return { adapter: describeAdapterInfo(out.info), limits: out.limits, features: out.features };
  } catch {
    return { error: `the adapter probe printed no result (${r.stdout.slice(0, 200)})` };
  }
}
