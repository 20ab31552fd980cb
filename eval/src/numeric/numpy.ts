/**
 * The few numpy behaviours COCO evaluation depends on to the last bit.
 */

/** np.linspace(start, stop, num): start + i*step, with the last element exactly `stop`. */
export function linspace(start: number, stop: number, num: number): number[] {
  const out: number[] = [];
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out.push(start + i * step);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** numpy's pairwise summation of a[lo, lo+n) (float64 add.reduce inner loop). */
function pairwiseSum(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    const r0 = [a[lo]!, a[lo + 1]!, a[lo + 2]!, a[lo + 3]!, a[lo + 4]!, a[lo + 5]!, a[lo + 6]!, a[lo + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r0[j]! += a[lo + i + j]!;
    }
    let res = r0[0]! + r0[1]! + (r0[2]! + r0[3]!) + (r0[4]! + r0[5]! + (r0[6]! + r0[7]!));
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** numpy's reduction buffer size: a 1-D sum is computed in blocks of this many elements. */
const BUFSIZE = 8192;

/** np.sum of a contiguous float64 vector, bit for bit. */
export function npSum(a: ArrayLike<number>): number {
  let acc = 0;
  for (let lo = 0; lo < a.length; lo += BUFSIZE) acc += pairwiseSum(a, lo, Math.min(BUFSIZE, a.length - lo));
  return acc;
}

/** np.mean of a float64 vector (NaN when empty, as numpy). */
export function npMean(a: ArrayLike<number>): number {
  return npSum(a) / a.length;
}

/** Python's '{:0.Nf}'.format(x): round half to even on the exact binary value. */
export function formatFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  // toFixed breaks exact ties upward; Python rounds them to even. Exact ties
  // exist only for dyadic x, where x * 2 * 10^digits is an exact odd integer.
  const t = x * 2 * 10 ** digits;
  if (Number.isInteger(t) && Math.abs(t) % 2 === 1) {
    const lower = (Math.trunc(x * 10 ** digits) / 10 ** digits).toFixed(digits);
    const lastDigit = Number(lower[lower.length - 1]);
    if (lastDigit % 2 === 0) return lower;
  }
  return s;
}
