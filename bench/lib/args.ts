import { fileURLToPath } from 'node:url';

/** The repository root (benchmarks spawn their measured part from here). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The value after `--name` on the command line, or the default. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
