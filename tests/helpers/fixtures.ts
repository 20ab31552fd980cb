import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/host-tensor.js';
import { toNumeric } from '../../src/io/host-tensor.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

/** Tensors of a torch-ref fixture file. */
export function torchRef(name: string): Map<string, HostTensor> {
  return readSafetensors(fixture('torch-ref', name)).tensors;
}

export function get(map: Map<string, HostTensor>, key: string): HostTensor {
  const t = map.get(key);
  if (!t) throw new Error(`fixture has no tensor ${key}; has ${[...map.keys()].slice(0, 20).join(', ')}`);
  return t;
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function values(t: HostTensor): Float32Array | Int32Array {
  return toNumeric(t);
}

/** NCHW host tensor → NHWC values. */
export function nchwToNhwc(t: HostTensor): { shape: number[]; data: Float32Array } {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  const src = toNumeric(t);
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * h + y) * w + x) * c + k] = src[((b * c + k) * h + y) * w + x]!;
  return { shape: [n, h, w, c], data: out };
}
