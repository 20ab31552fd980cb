import { InvalidArgumentError } from 'commander';

/**
 * Parsers of option values: each takes the text after the option and gives
 * the typed value, or commander's usage error naming the option (exit 2).
 */

/** A positive integer. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A non-negative integer. */
export function parseCountOrZero(value: string): number {
  return value.trim() === '0' ? 0 : parseCount(value);
}

/** A score threshold: a number in [0, 1]. */
export function parseScore(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number between 0 and 1');
  return n;
}
