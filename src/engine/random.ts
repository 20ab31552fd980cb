/**
 * A small seedable generator (xoshiro128**) whose whole state is four
 * 32-bit words, so it can be saved in a checkpoint and restored exactly.
 * densekit draws every random number (init, augmentation, sampling, drop
 * path) from generators like this one, never from Math.random.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | readonly number[] = 0) {
    this.s = new Uint32Array(4);
    if (typeof seed === 'number') this.seed(seed);
    else this.setState(seed);
  }

  /** Re-seed from one integer (splitmix32 expands it to the four words). */
  seed(seed: number): void {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (this.s.every((w) => w === 0)) this.s[0] = 1;
  }

  getState(): number[] {
    return Array.from(this.s);
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error('Rng state must be 4 words');
    this.s = Uint32Array.from(state);
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** A seed for a tfjs random op, derived from this stream. */
  tfSeed(): number {
    return this.nextU32();
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [arr[i], arr[j]] = [arr[j]!, arr[i]!];
    }
    return arr;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** splitmix-style mix of two integers into one seed (e.g. a run's seed and an epoch or sample index). */
export function mixSeed(a: number, b: number): number {
  let z = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d) >>> 0;
  return (z ^ (z >>> 12)) >>> 0;
}

let initGenerator = new Rng(0);

/** The generator parameter initialisers draw from: the one `withInitSeed` installed, else a default one. */
export function initRng(): Rng {
  return initGenerator;
}

/**
 * Run `build` with parameter initialisation drawing from a generator seeded
 * with `seed`, then restore the previous one: a model built this way is a
 * function of its seed alone, whatever was built before or around it.
 */
export function withInitSeed<T>(seed: number, build: () => T): T {
  const previous = initGenerator;
  initGenerator = new Rng(seed);
  try {
    return build();
  } finally {
    initGenerator = previous;
  }
}

let drawsSkipped = 0;

/** Whether parameter initialisers give zeros instead of drawing (see `withoutInitDraws`). */
export function initDrawsSkipped(): boolean {
  return drawsSkipped > 0;
}

/**
 * Build a model whose every parameter is about to be replaced by loaded
 * weights: initialisers give zeros instead of drawing random numbers on
 * the host (5.4 s of a base Mask2Former's 7.7 s load). Only for models that
 * then load a complete (strict) state dict.
 */
export function withoutInitDraws<T>(build: () => T): T {
  drawsSkipped++;
  try {
    return build();
  } finally {
    drawsSkipped--;
  }
}
