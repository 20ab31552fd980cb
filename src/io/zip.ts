import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { DensekitError } from '../util/errors.js';

/** One member of a zip archive, located by the central directory. */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/**
 * A read-only zip archive read through a file descriptor: only the central
 * directory is held in memory, members are read on demand (PyTorch
 * checkpoints of several GB stay on disk until a tensor is asked for).
 */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private fd: number;
  private readonly size: number;

  constructor(readonly path: string) {
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

  private read(pos: number, len: number): Buffer {
    if (pos < 0 || pos + len > this.size) {
      throw new DensekitError(`zip structure points past the end of the file (offset ${pos}+${len} > ${this.size}): truncated`, { file: this.path });
    }
    const buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const n = readSync(this.fd, buf, done, len - done, pos + done);
      if (n === 0) throw new DensekitError('unexpected end of file: truncated', { file: this.path });
      done += n;
    }
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
      const z64 = this.read(Number(loc.readBigUInt64LE(8)), 56);
      if (z64.readUInt32LE(0) !== 0x06064b50) this.fail('zip64 end-of-central-directory record missing');
      count = Number(z64.readBigUInt64LE(32));
      cdSize = Number(z64.readBigUInt64LE(40));
      cdOffset = Number(z64.readBigUInt64LE(48));
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
          if (size === 0xffffffff) (size = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(cd.readBigUInt64LE(q));
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

  /** The uncompressed bytes of member `name`. */
  readEntry(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) this.fail(`archive has no member ${name}`);
    const local = this.read(e.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) this.fail(`corrupt local header for ${name}`);
    const dataStart = e.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.read(dataStart, e.compressedSize);
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
