import { tf } from '../tf.js';
import {
  REQUESTED_LIMITS,
  describeAdapterInfo,
  navigatorGpu,
  releaseNavigatorGpu,
  type AdapterDescription,
  type GpuLimits,
} from './dawn.js';
import { defineBackendClass, type DensekitWebGPUBackend, type GpuMemory } from './gpu-backend.js';
import { installWebGpuKernels, type WebGpuUtil } from './kernels.js';

export { probeAdapter, adapterWords, type AdapterDescription, type ProbeResult } from './dawn.js';
export { WebGpuFatalError, type GpuMemory } from './gpu-backend.js';

export interface WebGpuStart {
  adapter: AdapterDescription;
  /** The device's limits (the adapter's largest, as requested). */
  limits: GpuLimits;
}

let started: { info: WebGpuStart; device: GPUDevice } | undefined;
let backend: DensekitWebGPUBackend | undefined;

/**
 * Start tfjs' webgpu backend on Dawn in this process and register it as
 * 'webgpu' (not yet selected: `tf.setBackend('webgpu')` does that).
 * `allowSoftware`: accept a software adapter (lavapipe); otherwise such an
 * adapter is an error. Idempotent.
 */
export async function startWebGpu(allowSoftware: boolean): Promise<WebGpuStart> {
  if (started) {
    if (started.info.adapter.software && !allowSoftware) throw new Error(`only a software adapter is available (${started.info.adapter.description})`);
    return started.info;
  }
  const gpu = await navigatorGpu();
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as unknown as GPUAdapter | null;
  if (!adapter) {
    releaseNavigatorGpu();
    throw new Error("Dawn found no WebGPU adapter: is a Vulkan driver installed? (libvulkan1 and the GPU vendor's ICD; mesa-vulkan-drivers >= 25 for software Vulkan)");
  }
  const adapterInfo = (adapter as unknown as { info: GPUAdapterInfo }).info;
  const description = describeAdapterInfo(adapterInfo as unknown as Parameters<typeof describeAdapterInfo>[0]);
  if (description.software && !allowSoftware) {
    releaseNavigatorGpu();
    throw new Error(`only a software adapter is available (${description.description})`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as GpuLimits)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = (['timestamp-query'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });

  const mod = await import('@tensorflow/tfjs-backend-webgpu');
  const Backend = defineBackendClass(mod.WebGPUBackend);
  installWebGpuKernels(mod.webgpu_util as unknown as WebGpuUtil);
  // tfjs-backend-webgpu registers its own factory on import when
  // navigator.gpu exists; densekit's replaces it.
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => {
    backend = new Backend(device, adapterInfo);
    return backend as unknown as tf.KernelBackend;
  }, 0);
  const limits: GpuLimits = {};
  for (const k of REQUESTED_LIMITS) limits[k] = (device.limits as unknown as GpuLimits)[k]!;
  started = { info: { adapter: description, limits }, device };
  return started.info;
}

/** The running webgpu backend, if densekit started one. */
export function webGpuBackend(): DensekitWebGPUBackend | undefined {
  return backend;
}

/** Live, pooled and peak GPU buffer bytes of the webgpu backend (undefined when it is not running). */
export function gpuMemory(): GpuMemory | undefined {
  return backend?.pool.memory();
}

/** Restart the peak figures of `gpuMemory`. */
export function resetGpuPeak(): void {
  backend?.pool.resetPeak();
}

/** Free the GPU buffers tfjs keeps for reuse. */
export function trimGpuPool(): void {
  backend?.trimPool();
}

/**
 * Wait until the GPU has finished everything submitted so far (for timing),
 * and surface any device error.
 */
export async function gpuFinish(): Promise<void> {
  if (!started || !backend) return;
  backend.checkErrors();
  const b = backend as unknown as { submitQueue(): void; ensureCommandEncoderReady(): void; endComputePassEncoder(): void };
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await started.device.queue.onSubmittedWorkDone();
  backend.checkErrors();
}

/**
 * Destroy the device and drop navigator.gpu (its tensors are gone; a later
 * `startWebGpu` starts afresh).
 */
export function releaseWebGpu(): void {
  if (!started) return;
  backend?.markDestroyed();
  try {
    tf.removeBackend('webgpu');
  } catch {
    /* not registered */
  }
  started.device.destroy();
  backend = undefined;
  started = undefined;
  releaseNavigatorGpu();
}
