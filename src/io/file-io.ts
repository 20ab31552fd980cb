import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DensekitError } from '../util/errors.js';

/**
 * Positioned, bounded-size file I/O for weight files of any size.
 *
 * Node refuses a single `readSync`/`writeSync` longer than 2 GiB - 1 (its
 * length is an int32) and one Buffer stops at 4 GiB, so large tensors and zip
 * members are moved in chunks of at most `chunkBytes`, each through a small
 * Uint8Array view of the destination: the destination may be an ArrayBuffer
 * of any size the runtime allows, and positions are plain numbers (exact up to
 * 2^53, far beyond any file).
 */

/** Open `path` for reading: a file descriptor, or a DensekitError naming the file (`cannot read (ENOENT)`). */
export function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new DensekitError(`cannot read (${(err as NodeJS.ErrnoException).code})`, { file: path });
  }
}

/** Default size of one read or write call: 64 MiB. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/** Hard cap on one read or write call, whatever a caller asks for. */
export const MAX_CHUNK_BYTES = 256 * 1024 * 1024;

/** Counters a reader keeps: how much it read and in how large pieces. */
export interface ReadStats {
  /** `readSync` calls made. */
  reads: number;
  /** Bytes read in all. */
  bytes: number;
  /** The largest single read, in bytes. */
  largestRead: number;
}

export function newReadStats(): ReadStats {
  return { reads: 0, bytes: 0, largestRead: 0 };
}

/** A chunk size option made safe: a positive integer no larger than `MAX_CHUNK_BYTES`. */
export function chunkSize(requested: number | undefined): number {
  if (requested === undefined) return DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(requested) || requested < 1) throw new RangeError(`chunkBytes must be a positive integer, got ${requested}`);
  return Math.min(requested, MAX_CHUNK_BYTES);
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/**
 * Fill `length` bytes of `target` starting at byte `targetOffset` with the
 * file's bytes from `position`, in reads of at most `chunkBytes`. A file that
 * ends early is reported as truncated, naming `file` (and `key`, when given).
 */
export function readFullyAt(
  fd: number,
  target: ArrayBufferLike,
  targetOffset: number,
  length: number,
  position: number,
  opts: { chunkBytes: number; file: string; key?: string; stats?: ReadStats },
): void {
  let done = 0;
  while (done < length) {
    const n = Math.min(opts.chunkBytes, length - done);
    let got: number;
    try {
      got = readSync(fd, new Uint8Array(target, targetOffset + done, n), 0, n, position + done);
    } catch (err) {
      throw new DensekitError(`cannot read ${n} bytes at offset ${position + done}: ${errCode(err)}`, { file: opts.file, key: opts.key });
    }
    if (opts.stats) {
      opts.stats.reads++;
      opts.stats.bytes += got;
      if (got > opts.stats.largestRead) opts.stats.largestRead = got;
    }
    if (got === 0) {
      throw new DensekitError(`file ends at byte ${position + done}, ${length - done} bytes short of the data it declares: truncated`, {
        file: opts.file,
        key: opts.key,
      });
    }
    done += got;
  }
}

/** A destination for `writeFileAtomicStream`: bytes go to the file in order. */
export interface ByteSink {
  /** Any typed array (of any size the runtime allows): its bytes, in memory order. */
  write(bytes: ArrayBufferView): void;
  /** Bytes written so far. */
  readonly written: number;
}

/**
 * Write a file of any size so that readers only ever see the old or the new
 * complete content: `produce` writes into a temp file beside the target
 * (in calls of at most `chunkBytes` each, whatever it hands over), which is
 * fsynced and renamed over the target. Nothing is gathered in memory: the
 * producer may hand over each tensor and drop it. On any error the temp file
 * is removed and the target is untouched; I/O errors name the target.
 */
export function writeFileAtomicStream(path: string, produce: (sink: ByteSink) => void, opts: { chunkBytes?: number } = {}): void {
  const chunk = chunkSize(opts.chunkBytes);
  const dir = dirname(path);
  // A random part too: processes in containers share pids (often 1) and can share a folder.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  const io = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new DensekitError(`cannot write (${what}): ${errCode(err)}`, { file: path });
    }
  };
  try {
    io('create directory', () => mkdirSync(dir, { recursive: true }));
    fd = io('open temp file', () => openSync(tmp, 'w'));
    const out = fd;
    let written = 0;
    const sink: ByteSink = {
      write(bytes: ArrayBufferView): void {
        // Views of at most `chunk` bytes: a typed array's byte view may exceed
        // what one Uint8Array (4 GiB) or one write call (2 GiB) can take.
        let off = 0;
        while (off < bytes.byteLength) {
          const n = Math.min(chunk, bytes.byteLength - off);
          const piece = new Uint8Array(bytes.buffer, bytes.byteOffset + off, n);
          off += io('write', () => writeSync(out, piece, 0, n));
        }
        written += bytes.byteLength;
      },
      get written() {
        return written;
      },
    };
    produce(sink);
    io('fsync', () => fsyncSync(out));
    closeSync(out);
    fd = undefined;
    io('rename into place', () => renameSync(tmp, path));
  } catch (err) {
    try {
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
    } catch {
      // Cleanup is best effort: the first error is the one to report.
    }
    throw err;
  }
}
