/**
 * The kernel running now on the webgpu backend, for error messages
 * ("BatchMatMul(a [12,4096,64], b [12,64,4096])").
 */
interface Running {
  name: string;
  inputs: Record<string, { shape: number[] } | undefined>;
}

let current: Running | undefined;

export function currentKernel(): string | undefined {
  if (!current) return undefined;
  const args = Object.entries(current.inputs)
    .filter(([, t]) => t)
    .map(([k, t]) => `${k} [${t!.shape.join(',')}]`);
  return `${current.name}(${args.join(', ')})`;
}

/** Run `f` as kernel `name` (nested kernels run as part of the outermost one, which names errors). */
export function inKernel<T>(name: string, inputs: Running['inputs'], f: () => T): T {
  if (current !== undefined) return f();
  current = { name, inputs };
  try {
    return f();
  } finally {
    current = undefined;
  }
}
