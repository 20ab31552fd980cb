import { createRequire } from 'node:module';
import { tf } from './tf.js';
import { installWasmKernels } from './wasm-kernels.js';
import { adapterWords, probeAdapter, startWebGpu, type WebGpuStart } from './webgpu/index.js';

/** The backends densekit can run on, fastest first. */
export type BackendName = 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name in use. */
  name: BackendName;
  /** Why this backend was chosen, in words a user can act on. */
  reason: string;
  /** On webgpu: the adapter and the device's limits. */
  gpu?: WebGpuStart;
}

let selected: BackendInfo | undefined;
const require = createRequire(import.meta.url);

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function tryNative(): Promise<BackendInfo | undefined> {
  // tfjs-node(-gpu) are optional peers: they download libtensorflow at install
  // time, so they are only used when the user installed them.
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (!isInstalled(pkg)) continue;
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) {
        return { name: 'tensorflow', reason: `${pkg} is installed` };
      }
    } catch (err) {
      process.emitWarning(`densekit: ${pkg} is installed but failed to load (${(err as Error).message}); falling back`);
    }
  }
  return undefined;
}

/**
 * Start the webgpu backend (Dawn, over Vulkan, Metal or D3D12). Software
 * adapters (lavapipe) are slower than wasm and only used when asked for.
 */
async function tryWebGpu(allowSoftware: boolean): Promise<{ gpu?: WebGpuStart; error?: string }> {
  try {
    const gpu = await startWebGpu(allowSoftware);
    if (!(await tf.setBackend('webgpu'))) return { error: 'tfjs could not start its webgpu backend' };
    return { gpu };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * Start a backend whose module may install process handlers: the wasm
 * module (emscripten) adds `uncaughtException` / `unhandledRejection`
 * handlers that rethrow from inside its one-line minified source, which
 * Node then prints whole (some 30 KB) above any uncaught error of the
 * process. Node's own handling is the same without that line, so the
 * handlers added while starting are removed.
 */
async function withoutAddedProcessHandlers<T>(start: () => Promise<T>): Promise<T> {
  const uncaught = process.listeners('uncaughtException');
  const rejections = process.listeners('unhandledRejection');
  try {
    return await start();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!uncaught.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!rejections.includes(l)) process.removeListener('unhandledRejection', l);
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    installWasmKernels();
    return await withoutAddedProcessHandlers(() => tf.setBackend('wasm'));
  } catch {
    return false;
  }
}

/**
 * Choose and initialise the tensor backend. Order: `DENSEKIT_BACKEND` if set,
 * else webgpu when a hardware GPU adapter is found, else tfjs-node-gpu,
 * tfjs-node, wasm, cpu. Idempotent: later calls return the first choice.
 */
export async function initBackend(requested: string | undefined = process.env.DENSEKIT_BACKEND): Promise<BackendInfo> {
  if (selected && (requested === undefined || requested === '' || requested === selected.name)) return selected;
  if (requested !== undefined && requested !== '') {
    const want = requested as BackendName;
    let ok = false;
    let gpu: WebGpuStart | undefined;
    if (want === 'webgpu') {
      const r = await tryWebGpu(true);
      if (r.error) throw new Error(`DENSEKIT_BACKEND=webgpu: ${r.error}`);
      gpu = r.gpu;
      ok = true;
    } else if (want === 'tensorflow') ok = (await tryNative()) !== undefined;
    else if (want === 'wasm') ok = await tryWasm();
    else if (want === 'cpu') ok = await tf.setBackend('cpu');
    else throw new Error(`DENSEKIT_BACKEND=${requested}: unknown backend (use webgpu, tensorflow, wasm or cpu)`);
    if (!ok) throw new Error(`DENSEKIT_BACKEND=${requested}: that backend could not be started`);
    await tf.ready();
    selected = { name: want, reason: 'DENSEKIT_BACKEND is set', gpu };
    return selected;
  }
  // The probe runs in a child process: no driver is loaded here unless a
  // hardware adapter exists.
  const probe = probeAdapter();
  let noGpu = `no GPU adapter (${probe.error})`;
  if (probe.adapter && !probe.adapter.software) {
    const r = await tryWebGpu(false);
    if (r.gpu) {
      await tf.ready();
      selected = { name: 'webgpu', reason: 'a hardware GPU adapter was found', gpu: r.gpu };
      return selected;
    }
    noGpu = `webgpu failed to start: ${r.error}`;
    process.emitWarning(`densekit: ${noGpu}; falling back`);
  } else if (probe.adapter) noGpu = `only a software GPU adapter (${probe.adapter.description}), which DENSEKIT_BACKEND=webgpu uses`;
  const native = await tryNative();
  if (native) {
    await tf.ready();
    selected = native;
    return selected;
  }
  if (await tryWasm()) {
    await tf.ready();
    selected = { name: 'wasm', reason: `${noGpu}; no tfjs-node installed; wasm is the fastest backend available` };
    return selected;
  }
  await tf.setBackend('cpu');
  await tf.ready();
  selected = { name: 'cpu', reason: 'wasm backend failed to start; pure-JS cpu fallback (slow)' };
  return selected;
}

/** The backend chosen by `initBackend`, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return selected;
}

/** One line for CLI output: "backend: wasm (…why…)"; on webgpu, the adapter too. */
export function describeBackend(info: BackendInfo): string {
  const adapter = info.gpu ? `; adapter: ${adapterWords(info.gpu.adapter)}` : '';
  return `backend: ${info.name} (${info.reason}${adapter})`;
}

/**
 * Switch to another backend (tests compare backends). Unlike `initBackend`
 * this always switches.
 */
export async function switchBackend(name: BackendName): Promise<void> {
  let gpu: WebGpuStart | undefined;
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    installWasmKernels();
  }
  if (name === 'webgpu') gpu = await startWebGpu(true);
  if (!(await withoutAddedProcessHandlers(() => tf.setBackend(name)))) throw new Error(`backend ${name} could not be started`);
  await tf.ready();
  selected = { name, reason: 'selected explicitly', gpu };
}
