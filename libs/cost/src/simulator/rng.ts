/**
 * Small deterministic random numbers: a 32-bit mixing hash (to derive independent streams from a seed and
 * an index) and sfc32 (fast, good statistical quality, 128-bit state). Every twin gets its own stream,
 * derived from (seed, twin index), so a run is reproducible whatever the order twins are processed in.
 */

/** A 32-bit integer hash of up to three integers (murmur3 finalizer over a simple combination). */
export function hash32(a: number, b = 0, c = 0): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ Math.imul(c ^ 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) from a hash of up to three integers. */
export function hashUnit(a: number, b = 0, c = 0): number {
  return hash32(a, b, c) / 4294967296;
}

export interface Rng {
  /** Uniform in [0, 1). */
  (): number;
}

/** sfc32 seeded from (seed, stream); the first outputs are discarded to mix the state. */
export function makeRng(seed: number, stream = 0): Rng {
  let a = hash32(seed, stream, 1);
  let b = hash32(seed, stream, 2);
  let c = hash32(seed, stream, 3);
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** Exponential with the given rate (mean 1 / rate). */
export function exponential(rng: Rng, rate: number): number {
  return -Math.log(1 - rng()) / rate;
}

/** Standard normal (Box-Muller, one of the pair). */
export function normal(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Poisson with mean `lambda`: Knuth's product method below 30, a rounded normal approximation above. */
export function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = rng();
    while (p > limit) {
      k++;
      p *= rng();
    }
    return k;
  }
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(rng)));
}
