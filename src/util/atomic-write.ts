import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * The temp file a write of `name` goes through: `.<name>.<pid>.<12 hex>.tmp`,
 * beside the target. A random part too: processes in containers share pids
 * (often 1) and can share a folder.
 */
export function tempFileName(name: string): string {
  return `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Whether `entry` (a name in a folder) is a temp file of a write of `name`
 * (see tempFileName): what a write killed before its rename leaves behind.
 */
export function isTempFileOf(entry: string, name: string): boolean {
  const prefix = `.${name}.`;
  return entry.startsWith(prefix) && /^\d+\.[0-9a-f]{12}\.tmp$/.test(entry.slice(prefix.length));
}

/**
 * Write a file so that readers only ever see the old or the new complete
 * content: write to a temp file beside the target, fsync, then rename.
 * A crash leaves at worst a stray temp file, never a truncated target.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | (Uint8Array | string)[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, tempFileName(basename(path)));
  const list = Array.isArray(chunks) ? chunks : [chunks];
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    for (const c of list) {
      const buf = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
