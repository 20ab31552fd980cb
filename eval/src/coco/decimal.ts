/**
 * Decimal to double conversion with the value `JSON.parse` gives (the
 * correctly rounded one), for the numbers JSON files are full of, without
 * making a string per number.
 *
 * A decimal is given as its significant digits M (the first 15 in `head`,
 * up to 4 more in `tail`, `tailDigits` of them) and a power of ten: the
 * value is M * 10^e10. Up to 15 digits with |e10| <= 22 both operands are
 * exact, so one IEEE operation rounds correctly. 16 to 19 digits with
 * -22 <= e10 < 0 — what a float32 or a float64 printed in full looks like
 * (`1006.2399291992188`, `440.5032501220703`) — are divided in double-double
 * arithmetic (about 104 bits), and the result is taken only when every value
 * within far more than its error rounds to the same double; anything else
 * returns NaN and the caller converts the text with Number().
 */

/** Exactly representable powers of ten. */
export const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** Dekker's splitter: 2^27 + 1. */
const SPLIT = 134217729;

/** a * b as hi + lo exactly (Dekker's product; no fused multiply-add in JavaScript). Returns lo; hi is fl(a * b). */
function productError(a: number, b: number, hi: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
}

/** A relative margin far above the division's error (about 2^-104) and far below half an ulp (2^-53). */
const MARGIN = 2 ** -90;

/**
 * (head * 10^tailDigits + tail) * 10^e10, correctly rounded, or NaN where
 * this cannot tell (the caller then uses Number() of the text). `head` has
 * at most 15 digits; `tail` < 10^tailDigits, tailDigits <= 4.
 */
export function decimalToDouble(head: number, tail: number, tailDigits: number, e10: number): number {
  if (tailDigits === 0) {
    if (e10 < 0) return e10 >= -22 ? head / POW10[-e10]! : NaN;
    return e10 <= 22 ? head * POW10[e10]! : NaN;
  }
  if (e10 >= 0 || e10 < -22) return NaN;
  // M = head * 10^k + tail exactly, as s + lo.
  const scale = POW10[tailDigits]!;
  const ph = head * scale;
  const pl = productError(head, scale, ph);
  const s = ph + tail;
  const bv = s - ph;
  const lo = (ph - (s - bv)) + (tail - bv) + pl;
  // (s + lo) / d in double-double: q1 + q2.
  const d = POW10[-e10]!;
  const q1 = s / d;
  const p = q1 * d;
  const pe = productError(q1, d, p);
  const q2 = ((s - p) - pe + lo) / d;
  // Everything within the margin of q1 + q2 (the exact quotient among it) must round alike.
  const m = MARGIN * q1;
  const down = q1 + (q2 - m);
  return down === q1 + (q2 + m) ? down : NaN;
}
