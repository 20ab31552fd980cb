import { closeSync, fstatSync, openSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { inflateRawSync } from 'node:zlib';
import { DensekitError } from '../util/errors.js';
import { chunkSize, newReadStats, readFullyAt, type ReadStats } from './file-io.js';

/** One member of a zip archive, located by the central directory. */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipReaderOptions {
  /** Largest single read, in bytes (default 64 MiB, capped at 256 MiB). Small values are for tests. */
  chunkBytes?: number;
}

/** A 64-bit zip field as a number; offsets past 2^53 cannot be exact and are refused. */
function u64(buf: Buffer, at: number, what: string, file: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DensekitError(`zip64 ${what} ${v} is beyond any real file: corrupt archive`, { file });
  return Number(v);
}

/**
 * A read-only zip archive read through a file descriptor: only the central
 * directory is held in memory, members are read on demand (PyTorch
 * checkpoints of several GB stay on disk until a tensor is asked for). Reads
 * are positioned and at most `chunkBytes` each, so members and offsets past
 * 2 and 4 GiB (zip64) read like small ones.
 */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  /** What has been read from the file so far. */
  readonly stats: ReadStats = newReadStats();
  private fd: number;
  private readonly size: number;
  private readonly chunkBytes: number;
  private readonly dataStarts = new Map<string, number>();

  constructor(
    readonly path: string,
    opts: ZipReaderOptions = {},
  ) {
    this.chunkBytes = chunkSize(opts.chunkBytes);
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new DensekitError(`cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path });
    }
    this.size = fstatSync(this.fd).size;
    try {
      this.readCentralDirectory();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private checkRange(pos: number, len: number): void {
    if (pos < 0 || pos + len > this.size) {
      throw new DensekitError(`zip structure points past the end of the file (offset ${pos}+${len} > ${this.size}): truncated`, { file: this.path });
    }
  }

  /** `len` bytes at `pos` into `target` (an ArrayBuffer of any size) at `targetOffset`, in bounded reads. */
  private readInto(target: ArrayBuffer, targetOffset: number, pos: number, len: number, key?: string): void {
    this.checkRange(pos, len);
    if (this.fd < 0) throw new DensekitError('read after close', { file: this.path, key });
    readFullyAt(this.fd, target, targetOffset, len, pos, { chunkBytes: this.chunkBytes, file: this.path, key, stats: this.stats });
  }

  private read(pos: number, len: number, key?: string): Buffer {
    this.checkRange(pos, len);
    if (len > bufferConstants.MAX_LENGTH) {
      throw new DensekitError(`${len} bytes at offset ${pos} do not fit one buffer (${bufferConstants.MAX_LENGTH})`, { file: this.path, key });
    }
    const buf = Buffer.allocUnsafe(len);
    this.readInto(buf.buffer as ArrayBuffer, buf.byteOffset, pos, len, key);
    return buf;
  }

  private fail(msg: string): never {
    throw new DensekitError(msg, { file: this.path });
  }

  private readCentralDirectory(): void {
    if (this.size < 22) this.fail('not a zip archive (too short): truncated or a legacy non-zip PyTorch file');
    const tailLen = Math.min(this.size, 22 + 65535);
    const tail = this.read(this.size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no zip end-of-central-directory record: the file is truncated or not a zip-format PyTorch checkpoint');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || count === 0xffff || cdSize === 0xffffffff) {
      // Zip64: the locator sits just before the EOCD record.
      const locPos = this.size - tailLen + eocd - 20;
      const loc = this.read(locPos, 20);
      if (loc.readUInt32LE(0) !== 0x07064b50) this.fail('zip64 locator missing');
      const z64 = this.read(u64(loc, 8, 'end-of-central-directory offset', this.path), 56);
      if (z64.readUInt32LE(0) !== 0x06064b50) this.fail('zip64 end-of-central-directory record missing');
      count = u64(z64, 32, 'entry count', this.path);
      cdSize = u64(z64, 40, 'central directory size', this.path);
      cdOffset = u64(z64, 48, 'central directory offset', this.path);
    }
    const cd = this.read(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) this.fail(`corrupt central directory at entry ${i}`);
      const method = cd.readUInt16LE(p + 10);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // Zip64 extended information extra field (id 0x0001) carries the real sizes.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const field = (what: string): number => {
            if (q + 8 > e + 4 + len || q + 8 > cd.length) this.fail(`zip64 extra field of ${name} is too short for its ${what}`);
            const v = u64(cd, q, `${what} of ${name}`, this.path);
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = field('size');
          if (compressedSize === 0xffffffff) compressedSize = field('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = field('local header offset');
        }
        e += 4 + len;
      }
      assertSafeName(name, this.path);
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) this.fail(`archive has no member ${name}`);
    return e;
  }

  /** File offset of member `name`'s data (after its local header), checked to lie inside the file. */
  private dataStart(e: ZipEntry): number {
    let start = this.dataStarts.get(e.name);
    if (start === undefined) {
      const local = this.read(e.localHeaderOffset, 30);
      if (local.readUInt32LE(0) !== 0x04034b50) this.fail(`corrupt local header for ${e.name}`);
      start = e.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (start + e.compressedSize > this.size) {
        this.fail(`member ${e.name} (${e.compressedSize} bytes at offset ${start}) reaches past the end of the file (${this.size} bytes): truncated`);
      }
      if (e.method === 0 && e.compressedSize !== e.size) this.fail(`stored member ${e.name} has size ${e.size} but ${e.compressedSize} stored bytes`);
      this.dataStarts.set(e.name, start);
    }
    return start;
  }

  /**
   * Bytes [offset, offset + length) of member `name`, uncompressed, into a
   * fresh ArrayBuffer (which may exceed one Buffer's 4 GiB). A stored member
   * (as torch.save writes tensors) is read from the file at that range only,
   * in bounded reads; a deflated one is inflated whole first.
   */
  readEntryRange(name: string, offset: number, length: number): ArrayBuffer {
    const e = this.entry(name);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > e.size) {
      this.fail(`range [${offset}, ${offset + length}) lies outside member ${name} (${e.size} bytes)`);
    }
    if (e.method !== 0) {
      const all = this.readEntry(name);
      return all.buffer.slice(all.byteOffset + offset, all.byteOffset + offset + length) as ArrayBuffer;
    }
    const start = this.dataStart(e);
    let out: ArrayBuffer;
    try {
      out = new ArrayBuffer(length);
    } catch (err) {
      this.fail(`cannot allocate ${length} bytes for member ${name} (${(err as Error).message})`);
    }
    this.readInto(out, 0, start + offset, length, name);
    return out;
  }

  /** The uncompressed bytes of member `name` (at most one Buffer, 4 GiB). */
  readEntry(name: string): Buffer {
    const e = this.entry(name);
    const raw = this.read(this.dataStart(e), e.compressedSize, name);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      try {
        return inflateRawSync(raw);
      } catch (err) {
        this.fail(`cannot inflate ${name}: ${(err as Error).message}`);
      }
    }
    this.fail(`member ${name} uses unsupported compression method ${e.method}`);
  }
}

/** Member names must be relative paths without `..`: never trust an archive's paths. */
function assertSafeName(name: string, file: string): void {
  const parts = name.split(/[\\/]/);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name) || parts.includes('..')) {
    throw new DensekitError(`zip member "${name}" has an unsafe path (absolute or containing ..): refusing the archive`, { file });
  }
}
