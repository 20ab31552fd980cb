import { closeSync, fstatSync, openSync } from 'node:fs';
import { DensekitError } from '../util/errors.js';
import { chunkSize, newReadStats, readFullyAt, writeFileAtomicStream, type ReadStats } from './file-io.js';
import { BYTES_PER_ELEMENT, MAX_TYPED_LENGTH, typedFromBytes, typedOver, type HostArray, type HostDType, type HostTensor } from './host-tensor.js';

/**
 * safetensors: an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and [begin, end) byte range in the data section
 * that follows, then the data.
 *
 * Files are read by tensor, through a file descriptor at the tensor's offset
 * (`openSafetensors`), never as one buffer: a checkpoint of any size opens
 * with only its header in memory, and reading a subset of its tensors (the
 * weights without the optimizer moments, a backbone) reads only that subset.
 */

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

/** One tensor as the header describes it (nothing read yet). */
export interface SafetensorsEntry {
  name: string;
  dtype: HostDType;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
  /** end - begin. */
  byteLength: number;
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  /** Tensors in header order. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** File offset of the data section (8 + JSON header length). */
  dataStart: number;
}

/** Largest header accepted (the format's own limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The header length field, checked against the file size. */
function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  const len = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (len > BigInt(MAX_HEADER) || 8 + Number(len) > fileSize) {
    throw new DensekitError(
      len > BigInt(MAX_HEADER)
        ? `header length ${len} exceeds the format's ${MAX_HEADER}-byte limit: not a safetensors file`
        : `header length ${len} exceeds the file size (${fileSize} bytes): truncated or not safetensors`,
      { file: source },
    );
  }
  return Number(len);
}

/**
 * Parse and validate a header. `dataLen` is the size of the data section
 * actually present (file size minus header): a tensor reaching past it means
 * the file is truncated. Every entry is checked: known dtype, a shape of
 * non-negative integers, integer offsets spanning exactly the shape's bytes,
 * inside the data, and no two tensors sharing bytes. Errors name the file
 * and the tensor.
 */
function parseHeader(json: Uint8Array, dataStart: number, dataLen: number, source: string): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (err) {
    throw new DensekitError(`header is not valid JSON (${(err as Error).message})`, { file: source });
  }
  if (!isPlainObject(header)) {
    throw new DensekitError(`header is ${header === null ? 'null' : Array.isArray(header) ? 'an array' : `a ${typeof header}`}, not a JSON object`, {
      file: source,
    });
  }
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    const fail = (msg: string): never => {
      throw new DensekitError(msg, { file: source, key: name });
    };
    if (name === '__metadata__') {
      if (raw === null) continue;
      if (!isPlainObject(raw)) fail('metadata is not an object of strings');
      const md = raw as Record<string, unknown>;
      for (const [k, v] of Object.entries(md)) if (typeof v !== 'string') fail(`metadata value ${JSON.stringify(k)} is not a string`);
      metadata = md as Record<string, string>;
      continue;
    }
    if (!isPlainObject(raw)) fail('entry is not an object with dtype, shape and data_offsets');
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e.dtype === 'string' && Object.hasOwn(CODE_TO_DTYPE, e.dtype) ? CODE_TO_DTYPE[e.dtype] : undefined;
    if (!dtype) fail(`unsupported dtype ${JSON.stringify(e.dtype) ?? 'undefined'}`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) fail('entry lacks shape or data_offsets');
    const shape = e.shape as unknown[];
    const offsets = e.data_offsets as unknown[];
    if (!shape.every(isCount)) fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (offsets.length !== 2 || !offsets.every(isCount)) fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`data_offsets [${begin}, ${end}) end before they begin`);
    const dims = shape as number[];
    let expected = BYTES_PER_ELEMENT[dtype!];
    if (dims.includes(0)) expected = 0;
    else for (const d of dims) if ((expected *= d) > Number.MAX_SAFE_INTEGER) fail(`shape [${dims}] is too large`);
    if (end - begin !== expected) fail(`data_offsets span ${end - begin} bytes, shape [${dims}] needs ${expected}`);
    if (end > dataLen) fail(`data [${begin}, ${end}) lies beyond the end of the file (${dataLen} data bytes): truncated`);
    entries.set(name, { name, dtype: dtype!, shape: dims, dataOffsets: [begin, end], byteLength: end - begin });
  }
  // Tensors may not share bytes: each byte of the file becomes at most one
  // tensor's (a small hostile file cannot stand for many copies of itself).
  const byStart = [...entries.values()].filter((e) => e.byteLength > 0).sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      throw new DensekitError(`data [${cur.dataOffsets[0]}, ${cur.dataOffsets[1]}) overlaps ${prev.name}'s [${prev.dataOffsets[0]}, ${prev.dataOffsets[1]})`, {
        file: source,
        key: cur.name,
      });
    }
  }
  return { entries, metadata, dataStart };
}

/** Parse safetensors bytes already in memory. `source` names the file in errors. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new DensekitError('not a safetensors file (shorter than its 8-byte header length)', { file: source });
  const len = headerLength(bytes, bytes.byteLength, source);
  const h = parseHeader(bytes.subarray(8, 8 + len), 8 + len, bytes.byteLength - 8 - len, source);
  const tensors = new Map<string, HostTensor>();
  for (const e of h.entries.values()) {
    const data = typedFromBytes(e.dtype, bytes.subarray(h.dataStart + e.dataOffsets[0], h.dataStart + e.dataOffsets[1]));
    tensors.set(e.name, { dtype: e.dtype, shape: [...e.shape], data });
  }
  return { tensors, metadata: h.metadata };
}

export interface OpenSafetensorsOptions {
  /** Largest single read, in bytes (default 64 MiB, capped at 256 MiB). Small values are for tests. */
  chunkBytes?: number;
}

/**
 * An open safetensors file: the validated header is in memory, tensors are
 * read one at a time from the file at their offsets. Close it when done.
 */
export class SafetensorsReader {
  /** Tensors in header order, with dtype, shape and byte range. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  /** File offset of the data section. */
  readonly dataStart: number;
  readonly fileSize: number;
  /** What has been read from the file so far (header included). */
  readonly stats: ReadStats = newReadStats();
  private fd: number;
  private readonly chunkBytes: number;

  constructor(
    readonly path: string,
    opts: OpenSafetensorsOptions = {},
  ) {
    this.chunkBytes = chunkSize(opts.chunkBytes);
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new DensekitError(`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path });
    }
    try {
      this.fileSize = fstatSync(this.fd).size;
      if (this.fileSize < 8) throw new DensekitError('not a safetensors file (shorter than its 8-byte header length)', { file: path });
      const first8 = new Uint8Array(8);
      this.readAt(first8.buffer, 0, 8, 0);
      const len = headerLength(first8, this.fileSize, path);
      const json = new Uint8Array(len);
      this.readAt(json.buffer, 0, len, 8);
      const h = parseHeader(json, 8 + len, this.fileSize - 8 - len, path);
      this.entries = h.entries;
      this.metadata = h.metadata;
      this.dataStart = h.dataStart;
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private readAt(target: ArrayBuffer, targetOffset: number, length: number, position: number, key?: string): void {
    if (this.fd < 0) throw new DensekitError('read after close', { file: this.path, key });
    readFullyAt(this.fd, target, targetOffset, length, position, { chunkBytes: this.chunkBytes, file: this.path, key, stats: this.stats });
  }

  /** Tensor names in header order. */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The header entry of `name`; an error naming the file if there is none. */
  entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new DensekitError('no such tensor in the file', { file: this.path, key: name });
    return e;
  }

  /** Names for which `keep` is true, in header order. */
  select(keep: (name: string, entry: SafetensorsEntry) => boolean): string[] {
    return [...this.entries.values()].filter((e) => keep(e.name, e)).map((e) => e.name);
  }

  /** Bytes the tensors `keep` selects occupy (what `readAll(keep)` will read). */
  byteLength(keep: (name: string, entry: SafetensorsEntry) => boolean = () => true): number {
    let n = 0;
    for (const e of this.entries.values()) if (keep(e.name, e)) n += e.byteLength;
    return n;
  }

  /**
   * Read one tensor into a fresh typed array (one allocation of exactly its
   * size, filled in reads of at most `chunkBytes`). A tensor with more
   * elements than a typed array can hold, or one this process cannot
   * allocate, is refused with an error naming the file and tensor.
   */
  read(name: string): HostTensor {
    const e = this.entry(name);
    const count = e.byteLength / BYTES_PER_ELEMENT[e.dtype];
    if (count > MAX_TYPED_LENGTH) {
      throw new DensekitError(`${count} elements (${e.byteLength} bytes) is more than one typed array can hold (${MAX_TYPED_LENGTH} elements)`, {
        file: this.path,
        key: name,
      });
    }
    let buf: ArrayBuffer;
    try {
      buf = new ArrayBuffer(e.byteLength);
    } catch (err) {
      throw new DensekitError(`cannot allocate ${e.byteLength} bytes for this tensor (${(err as Error).message})`, { file: this.path, key: name });
    }
    this.readAt(buf, 0, e.byteLength, this.dataStart + e.dataOffsets[0], name);
    const data: HostArray = typedOver(e.dtype, buf);
    return { dtype: e.dtype, shape: [...e.shape], data };
  }

  /** Read every tensor `keep` selects (all by default), in header order. */
  readAll(keep: (name: string, entry: SafetensorsEntry) => boolean = () => true): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const e of this.entries.values()) if (keep(e.name, e)) out.set(e.name, this.read(e.name));
    return out;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Open a safetensors file: reads and validates its header only. */
export function openSafetensors(path: string, opts: OpenSafetensorsOptions = {}): SafetensorsReader {
  return new SafetensorsReader(path, opts);
}

export interface ReadSafetensorsOptions extends OpenSafetensorsOptions {
  /** Read only the tensors for which this is true (others are never read from disk). */
  filter?: (name: string) => boolean;
}

/**
 * Read a safetensors file's tensors (all, or those `filter` keeps) and its
 * metadata. Memory is the size of the tensors read; the file is never held
 * as one buffer, so files beyond 2 GiB read like small ones.
 */
export function readSafetensors(path: string, opts: ReadSafetensorsOptions = {}): SafetensorsFile {
  const r = openSafetensors(path, opts);
  try {
    const filter = opts.filter;
    return { tensors: r.readAll(filter ? (name) => filter(name) : undefined), metadata: r.metadata };
  } finally {
    r.close();
  }
}

/**
 * A tensor whose data is produced only when the writer reaches it: the
 * header needs only dtype and shape, so a checkpoint can be written while
 * holding one tensor's data at a time (e.g. `data: () => variable.dataSync()`).
 */
export interface DeferredTensor {
  dtype: HostDType;
  shape: number[];
  data: () => HostArray;
}

type TensorSource = HostTensor | DeferredTensor;

function expectedBytes(name: string, t: { dtype: HostDType; shape: number[] }, file?: string): number {
  if (!Object.hasOwn(DTYPE_TO_CODE, t.dtype)) throw new DensekitError(`cannot store dtype ${t.dtype}`, { file, key: name });
  if (!t.shape.every(isCount)) throw new DensekitError(`shape [${t.shape}] is not a list of non-negative integers`, { file, key: name });
  return t.shape.reduce((a, b) => a * b, BYTES_PER_ELEMENT[t.dtype]);
}

/** The header bytes (length field + space-padded JSON) for tensors of these shapes, in order. */
function headerBytes(tensors: Iterable<[string, { dtype: HostDType; shape: number[] }]>, metadata: Record<string, string>, file?: string): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new DensekitError('a tensor may not be named __metadata__', { file, key: name });
    const n = expectedBytes(name, t, file);
    header[name] = { dtype: DTYPE_TO_CODE[t.dtype], shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to a multiple of 8 so the data is aligned.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  return [len, jsonBytes];
}

function checkedData(name: string, t: TensorSource, file?: string): HostArray {
  const data = typeof t.data === 'function' ? t.data() : t.data;
  const expected = expectedBytes(name, t, file);
  if (data.byteLength !== expected) {
    throw new DensekitError(`${data.byteLength} bytes of data for shape [${t.shape}] (${t.dtype}) which needs ${expected}`, { file, key: name });
  }
  return data;
}

/**
 * Serialise tensors (in the given order) and metadata to safetensors bytes:
 * the header, then one view per tensor (no copy; concatenate to get the
 * file's bytes). For files, `writeSafetensors` streams instead.
 */
export function serializeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const chunks = headerBytes(tensors, metadata);
  for (const [name, t] of tensors) {
    const data = checkedData(name, t);
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return chunks;
}

export interface WriteSafetensorsOptions {
  /** Largest single write, in bytes (default 64 MiB, capped at 256 MiB). */
  chunkBytes?: number;
}

/**
 * Write a safetensors file atomically (temp file, fsync, rename), streaming:
 * the header, then each tensor's data in writes of at most `chunkBytes`.
 * Nothing is gathered into one buffer, and a `DeferredTensor`'s data is
 * asked for only when its turn comes, so peak memory can stay at one tensor.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, TensorSource>,
  metadata: Record<string, string> = {},
  opts: WriteSafetensorsOptions = {},
): void {
  const head = headerBytes(tensors, metadata, path);
  writeFileAtomicStream(
    path,
    (sink) => {
      for (const h of head) sink.write(h);
      for (const [name, t] of tensors) sink.write(checkedData(name, t, path));
    },
    opts,
  );
}
