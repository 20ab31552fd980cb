import { InvalidArgumentError } from 'commander';

/** The inference-engine options of `predict` and `eval model`. */
export interface EngineOptions {
  engine?: string;
  device?: string;
  threads?: number;
}

/** A positive integer option value, or commander's usage error naming the option. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
