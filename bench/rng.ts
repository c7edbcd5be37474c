/**
 * Seedable PRNG (sfc32 seeded through splitmix32) and the few sampling helpers the generators need.
 * Pure integer arithmetic (Math.imul, >>> 0): the same seed gives the same stream on every platform.
 */

/** splitmix32 step: turns arbitrary (even consecutive or zero) seeds into well-mixed 32-bit words. */
function splitmix32(state: number): [value: number, next: number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [(z ^ (z >>> 16)) >>> 0, next];
}

/** FNV-1a over UTF-16 code units: a stable hash for stream labels (fork('hosts') must not depend on order of calls). */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < label.length; k++) {
    h = Math.imul(h ^ label.charCodeAt(k), 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Folds a seed (any safe integer, negative included) and an optional stream label into 32 bits.
 * Exported so that callers can name sub-seeds (e.g. per benchmark run) reproducibly.
 */
export function deriveSeed(seed: number, stream = ''): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  // Keep the high bits too, so seeds 1 and 2^32 + 1 differ.
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let [a, s] = splitmix32(lo ^ 0x5bd1e995);
  let b: number;
  [b, s] = splitmix32(s ^ hi);
  let c: number;
  [c] = splitmix32(s ^ hashLabel(stream));
  a = (a ^ Math.imul(b, 0x27d4eb2d) ^ c) >>> 0;
  return a;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The 32-bit seed this stream was built from (after derivation), for forks. */
  readonly seed: number;

  constructor(seed: number) {
    this.seed = deriveSeed(seed);
    let s = this.seed;
    const words: number[] = [];
    for (let k = 0; k < 4; k++) {
      const [v, n] = splitmix32(s);
      words.push(v);
      s = n;
    }
    this.a = words[0]!;
    this.b = words[1]!;
    this.c = words[2]!;
    this.d = words[3]!;
    // Discard the first outputs: sfc32's state needs a few rounds to decorrelate from the seed.
    for (let k = 0; k < 12; k++) this.uint32();
  }

  /** Next raw 32-bit unsigned integer (sfc32). */
  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.uint32() / 0x1_0000_0000;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError(`int(${min}, ${max}): need integers with min ≤ max`);
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform real in [min, max); with `decimals`, rounded (decimal TREC values are part of what we test). */
  float(min: number, max: number, decimals?: number): number {
    const v = min + this.next() * (max - min);
    if (decimals === undefined) return v;
    const f = 10 ** decimals;
    return Math.round(v * f) / f;
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks by relative weight: weighted([[1, 40], [2, 35]]). */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    if (!(total > 0)) throw new RangeError('weighted pick needs a positive total weight');
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1]![0];
  }

  /** Fisher–Yates, in place; returns the same array for chaining. */
  shuffle<T>(items: T[]): T[] {
    for (let k = items.length - 1; k > 0; k--) {
      const j = Math.floor(this.next() * (k + 1));
      const tmp = items[k]!;
      items[k] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** k distinct elements in random order (k is clamped to the list length). */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = items.slice();
    const n = Math.max(0, Math.min(k, copy.length));
    // Partial Fisher–Yates: only the first n slots need to be drawn.
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      const tmp = copy[i]!;
      copy[i] = copy[j]!;
      copy[j] = tmp;
    }
    return copy.slice(0, n);
  }

  /**
   * An independent stream named by a label. Forks depend only on this stream's seed and the label, not on
   * how much has been drawn, so adding draws to one part of a generator does not reshuffle the others.
   */
  fork(label: string): Rng {
    return new Rng(deriveSeed(this.seed, label));
  }
}
