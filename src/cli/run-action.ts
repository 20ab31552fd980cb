import { EvalInputError, MaskApiError } from '@densekit/eval';
import { DensekitError } from '../util/errors.js';

/** Exit code for bad input (config, files, arguments): nothing was written. */
export const EXIT_BAD_INPUT = 2;

/**
 * Wrap a command action so that expected failures print one line and exit
 * with a status, never a stack trace. Unexpected errors keep their stack
 * (they are bugs) when DENSEKIT_DEBUG is set.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof DensekitError || err instanceof EvalInputError || err instanceof MaskApiError) {
        process.stderr.write(`densekit: error: ${err.message}\n`);
        process.exitCode = EXIT_BAD_INPUT;
      } else {
        const e = err as Error;
        process.stderr.write(`densekit: error: ${e.message}\n`);
        if (process.env.DENSEKIT_DEBUG) process.stderr.write(`${e.stack}\n`);
        process.exitCode = 1;
      }
    }
  };
}
