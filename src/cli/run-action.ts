import { EvalInputError, MaskApiError } from '@densekit/eval';
import { DensekitError } from '../util/errors.js';

/**
 * Exit statuses of every command:
 * - 0: done; every input was used.
 * - 1: an internal error (a bug in densekit): never caused by what the user gave.
 * - 2: bad input or an unusable file or folder (a usage error, a config, a
 *   missing, unreadable or malformed file, a folder that cannot be written):
 *   one line naming the file and the field; no output file is left
 *   half-written.
 * - 3: done, but some inputs were skipped (unreadable images): the outputs
 *   are complete for the others, and each skipped input is named on stderr.
 */
export const EXIT_INTERNAL = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_SKIPPED_INPUTS = 3;

/** What the file system said, in words (the codes a user's files and folders cause). */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder not empty',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
  EXDEV: 'not on the same file system',
};

/**
 * An error of the file system about a path (a file or folder the command
 * was given or writes), as one line naming the path; undefined for
 * anything else.
 */
export function systemErrorLine(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException;
  if (typeof e.code !== 'string' || typeof e.path !== 'string' || !(e.code in SYSTEM_ERRORS)) return undefined;
  const op = e.syscall ? `cannot ${e.syscall}: ` : '';
  // mkdir of a path whose part is a file says EEXIST: what the user needs to hear is that it is not a folder.
  if (e.code === 'EEXIST' && e.syscall === 'mkdir') return `${e.path}: ${op}exists and is not a folder (${e.code})`;
  const to = (e as { dest?: unknown }).dest;
  const dest = typeof to === 'string' ? ` (to ${to})` : '';
  return `${e.path}${dest}: ${op}${SYSTEM_ERRORS[e.code]} (${e.code})`;
}

/** An image (or other input) a command skipped, and why. */
export interface SkippedInput {
  file: string;
  reason: string;
}

/**
 * Name every skipped input on stderr, with a count, and set exit status 3.
 * Nothing when none was skipped.
 */
export function reportSkipped(skipped: readonly SkippedInput[], total: number, what = 'images'): void {
  if (skipped.length === 0) return;
  for (const s of skipped) process.stderr.write(`densekit: skipped ${s.file}: ${s.reason}\n`);
  process.stderr.write(`densekit: ${skipped.length} of ${total} ${what} skipped (listed above); the outputs hold the other ${total - skipped.length} (exit status ${EXIT_SKIPPED_INPUTS})\n`);
  process.exitCode = EXIT_SKIPPED_INPUTS;
}

/**
 * Wrap a command action so that expected failures print one line and exit
 * with a status, never a stack trace. Anything else is a bug: it says so,
 * and shows its stack when DENSEKIT_DEBUG is set.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof DensekitError || err instanceof EvalInputError || err instanceof MaskApiError) {
        process.stderr.write(`densekit: error: ${err.message}\n`);
        process.exitCode = EXIT_BAD_INPUT;
        return;
      }
      const system = systemErrorLine(err);
      if (system !== undefined) {
        process.stderr.write(`densekit: error: ${system}\n`);
        process.exitCode = EXIT_BAD_INPUT;
        return;
      }
      const e = err instanceof Error ? err : new Error(String(err));
      process.stderr.write(`densekit: internal error: ${e.message}\n`);
      process.stderr.write(process.env.DENSEKIT_DEBUG ? `${e.stack}\n` : 'densekit: this is a bug in densekit; DENSEKIT_DEBUG=1 shows where it happened\n');
      process.exitCode = EXIT_INTERNAL;
    }
  };
}
