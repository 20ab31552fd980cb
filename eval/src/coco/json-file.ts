import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { EvalInputError } from '../errors.js';

/* JSON files read for evaluation: every failure names the file. */

/**
 * Read a file's bytes, naming the file in the error; into shared memory
 * when a worker may read them too.
 */
export function readBytes(path: string, shared = false): Uint8Array {
  try {
    if (!shared) {
      const b = readFileSync(path);
      // A plain Uint8Array view: the hot loops then see one array type only.
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    }
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const bytes = new Uint8Array(new SharedArrayBuffer(size));
      let at = 0;
      while (at < size) {
        const got = readSync(fd, bytes, at, size - at, at);
        if (got === 0) throw Object.assign(new Error('file shrank while being read'), { code: 'ESHORT' });
        at += got;
      }
      return bytes;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new EvalInputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
  }
}

/** Whether a results file looks like masks (its first entry has counts) — only then is a helper thread started. */
export function mentionsCounts(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 4096)).includes('"counts"');
}

/** Parse UTF-8 JSON bytes, naming the file in the error. */
export function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (err) {
    throw new EvalInputError(`invalid JSON (${(err as Error).message})`, path);
  }
}

/** Read and parse a JSON file, naming the file in every error. */
export function readJson(path: string): unknown {
  return parseJson(readBytes(path), path);
}

/** A file's size in bytes, naming the file when it cannot be read. */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    throw new EvalInputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
  }
}
