import { createRequire } from 'node:module';
import { tf } from './tf.js';
import { installWasmKernels } from './wasm-kernels.js';

/** The backends densekit can run on, fastest first. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name in use. */
  name: BackendName;
  /** Why this backend was chosen, in words a user can act on. */
  reason: string;
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

async function tryWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    installWasmKernels();
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

/**
 * Choose and initialise the tensor backend. Order: `DENSEKIT_BACKEND` if set,
 * else tfjs-node-gpu, tfjs-node, wasm, cpu. Idempotent: later calls return the
 * first choice.
 */
export async function initBackend(requested: string | undefined = process.env.DENSEKIT_BACKEND): Promise<BackendInfo> {
  if (selected && (requested === undefined || requested === '' || requested === selected.name)) return selected;
  if (requested !== undefined && requested !== '') {
    const want = requested as BackendName;
    let ok = false;
    if (want === 'tensorflow') ok = (await tryNative()) !== undefined;
    else if (want === 'wasm') ok = await tryWasm();
    else if (want === 'cpu') ok = await tf.setBackend('cpu');
    else throw new Error(`DENSEKIT_BACKEND=${requested}: unknown backend (use tensorflow, wasm or cpu)`);
    if (!ok) throw new Error(`DENSEKIT_BACKEND=${requested}: that backend could not be started`);
    await tf.ready();
    selected = { name: want, reason: 'DENSEKIT_BACKEND is set' };
    return selected;
  }
  const native = await tryNative();
  if (native) {
    await tf.ready();
    selected = native;
    return selected;
  }
  if (await tryWasm()) {
    await tf.ready();
    selected = { name: 'wasm', reason: 'no tfjs-node installed; wasm is the fastest backend available' };
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

/** One line for CLI output: "backend: wasm (…why…)". */
export function describeBackend(info: BackendInfo): string {
  return `backend: ${info.name} (${info.reason})`;
}

/**
 * Switch to another backend (tests compare backends). Unlike `initBackend`
 * this always switches.
 */
export async function switchBackend(name: BackendName): Promise<void> {
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    installWasmKernels();
  }
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} could not be started`);
  await tf.ready();
  selected = { name, reason: 'selected explicitly' };
}
