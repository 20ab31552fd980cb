import type { Rng } from '../engine/random.js';

/**
 * detectron2's subsample_labels: pick up to `total * positiveFraction`
 * positives at random, fill the rest with random negatives. Labels:
 * positive if ≥ 0 and ≠ bgLabel (or === 1 for binary), negative === bgLabel.
 */
export function sampleLabels(
  isPositive: (i: number) => boolean,
  isNegative: (i: number) => boolean,
  n: number,
  total: number,
  positiveFraction: number,
  rng: Rng,
): { pos: number[]; neg: number[] } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < n; i++) {
    if (isPositive(i)) pos.push(i);
    else if (isNegative(i)) neg.push(i);
  }
  const numPos = Math.min(pos.length, Math.floor(total * positiveFraction));
  const numNeg = Math.min(neg.length, total - numPos);
  return { pos: rng.shuffle(pos).slice(0, numPos), neg: rng.shuffle(neg).slice(0, numNeg) };
}
