import { tf, type Tensor } from '../engine/tf.js';

/** Element types densekit reads and writes in checkpoint files. */
export type HostDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type HostArray = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A tensor in host memory, as read from or written to a file. Row-major. */
export interface HostTensor {
  dtype: HostDType;
  shape: number[];
  /** float16/bfloat16 are kept as their raw 16-bit patterns. */
  data: HostArray;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const BYTES_PER_ELEMENT: Record<HostDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Most elements one typed array may hold in this runtime (V8: 2^32). */
export const MAX_TYPED_LENGTH = 2 ** 32;

/** A typed array of `dtype` over all of `buffer` (no copy; its byte length must be a multiple of the element size). */
export function typedOver(dtype: HostDType, buffer: ArrayBuffer): HostArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer);
  }
}

/** View little-endian bytes as a typed array of `dtype` (copies to get alignment). */
export function typedFromBytes(dtype: HostDType, bytes: Uint8Array): HostArray {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return typedOver(dtype, copy.buffer);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** The values of a host tensor as float32 (floats) or int32 (integers, range-checked). */
export function toNumeric(t: HostTensor, name = 'tensor'): Float32Array | Int32Array {
  const d = t.data;
  switch (t.dtype) {
    case 'float32':
      return d as Float32Array;
    case 'float64':
      return Float32Array.from(d as Float64Array);
    case 'float16': {
      const src = d as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]!);
      return out;
    }
    case 'bfloat16': {
      const src = d as Uint16Array;
      const u = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
      return new Float32Array(u.buffer);
    }
    case 'int64': {
      const src = d as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${name}: int64 value ${v} does not fit int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'int32':
      return d as Int32Array;
    case 'int16':
    case 'int8':
    case 'uint8':
    case 'bool':
      return Int32Array.from(d as Int16Array);
  }
}

/** Make a tfjs tensor (float32 or int32) from a host tensor. */
export function toTf(t: HostTensor, name = 'tensor'): Tensor {
  const values = toNumeric(t, name);
  return tf.tensor(values, t.shape, values instanceof Float32Array ? 'float32' : 'int32');
}

/** Read a tfjs tensor back into host memory (float32 → float32, int32 → int32, bool → bool). */
export function fromTf(t: Tensor): HostTensor {
  const data = t.dataSync();
  if (t.dtype === 'float32') return { dtype: 'float32', shape: [...t.shape], data: data as Float32Array };
  if (t.dtype === 'int32') return { dtype: 'int32', shape: [...t.shape], data: data as Int32Array };
  if (t.dtype === 'bool') return { dtype: 'bool', shape: [...t.shape], data: Uint8Array.from(data as Uint8Array) };
  throw new Error(`cannot store a ${t.dtype} tensor`);
}

/** Permute the axes of a host tensor (a copy in row-major order). */
export function transposeHost(t: HostTensor, perm: number[]): HostTensor {
  if (perm.length !== t.shape.length) throw new Error(`transpose: perm [${perm}] does not fit shape [${t.shape}]`);
  const shape = perm.map((p) => t.shape[p]!);
  const n = numel(t.shape);
  const inStrides = new Array<number>(t.shape.length);
  let s = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= t.shape[i]!;
  }
  const src = t.data as unknown as { length: number; [i: number]: number | bigint };
  const Ctor = (t.data as unknown as { constructor: new (n: number) => typeof t.data }).constructor;
  const out = new Ctor(n) as unknown as { [i: number]: number | bigint };
  const permStrides = perm.map((p) => inStrides[p]!);
  const idx = new Array<number>(shape.length).fill(0);
  let srcOff = 0;
  for (let i = 0; i < n; i++) {
    out[i] = src[srcOff]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      srcOff += permStrides[d]!;
      if (idx[d]! < shape[d]!) break;
      srcOff -= permStrides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return { dtype: t.dtype, shape, data: out as unknown as HostArray };
}

/** Rows [start, end) of a host tensor along axis 0. */
export function sliceRows(t: HostTensor, start: number, end: number): HostTensor {
  const row = numel(t.shape.slice(1));
  const data = (t.data as unknown as { slice(a: number, b: number): HostArray }).slice(start * row, end * row);
  return { dtype: t.dtype, shape: [end - start, ...t.shape.slice(1)], data };
}
