import { readFileSync } from 'node:fs';
import { DensekitError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { BYTES_PER_ELEMENT, numel, typedFromBytes, type HostDType, type HostTensor } from './host-tensor.js';

/** safetensors dtype codes and densekit's names for them. */
const CODE_TO_DTYPE: Record<string, HostDType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const DTYPE_TO_CODE = Object.fromEntries(Object.entries(CODE_TO_DTYPE).map(([k, v]) => [v, k])) as Record<HostDType, string>;

/** A safetensors file: named tensors plus string metadata. */
export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted (the format's own limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

/** Parse safetensors bytes. `source` names the file in errors. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new DensekitError('not a safetensors file (shorter than its 8-byte header length)', { file: source });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.byteLength) {
    throw new DensekitError(`header length ${headerLen} exceeds the file size (${bytes.byteLength} bytes): truncated or not safetensors`, {
      file: source,
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new DensekitError(`header is not valid JSON (${(err as Error).message})`, { file: source });
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = e.dtype !== undefined ? CODE_TO_DTYPE[e.dtype] : undefined;
    if (!dtype) throw new DensekitError(`unsupported dtype ${String(e.dtype)}`, { file: source, key: name });
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new DensekitError('entry lacks shape or data_offsets', { file: source, key: name });
    }
    const [begin, end] = e.data_offsets;
    const expected = numel(e.shape) * BYTES_PER_ELEMENT[dtype];
    if (end - begin !== expected) {
      throw new DensekitError(`data_offsets span ${end - begin} bytes, shape [${e.shape}] needs ${expected}`, { file: source, key: name });
    }
    if (begin < 0 || end > dataLen) {
      throw new DensekitError(`data [${begin}, ${end}) lies beyond the end of the file: truncated`, { file: source, key: name });
    }
    tensors.set(name, { dtype, shape: e.shape, data: typedFromBytes(dtype, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DensekitError(`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path });
  }
  return parseSafetensors(bytes, path);
}

/** Serialise tensors (in the given order) and metadata to safetensors bytes. */
export function serializeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, t] of tensors) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const expected = numel(t.shape) * BYTES_PER_ELEMENT[t.dtype];
    if (bytes.byteLength !== expected) throw new Error(`${name}: ${bytes.byteLength} bytes for shape [${t.shape}] (${t.dtype})`);
    header[name] = { dtype: DTYPE_TO_CODE[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    chunks.push(bytes);
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to a multiple of 8 so the data is aligned.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  return [len, jsonBytes, ...chunks];
}

/** Write a safetensors file atomically (temp file, fsync, rename). */
export function writeSafetensors(path: string, tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
