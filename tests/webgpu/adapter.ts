import { probeAdapter } from '../../src/engine/webgpu/index.js';

/**
 * Whether the webgpu group can run here: any WebGPU adapter will do,
 * software Vulkan (lavapipe, what CI installs) included. When there is none
 * the group is skipped and the reason printed.
 */
export function webgpuAvailability(file: string): { ok: boolean; adapter: string } {
  const probe = probeAdapter();
  if (!probe.adapter) {
    console.warn(`${file}: skipping the webgpu group: ${probe.error} (.ci/run installs software Vulkan with apt)`);
    return { ok: false, adapter: '' };
  }
  return { ok: true, adapter: `${probe.adapter.description}${probe.adapter.software ? ' (software)' : ''}` };
}
