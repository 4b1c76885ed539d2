import { describe, expect, it } from 'vitest';
import { accountPath, B_PENALTIES, B_TRANSITIONS, newBreakdown } from './accounting';
import { OptimumSolver } from './optimum';
import { makeRng, Rng } from './rng';
import { TierCosts } from './tier-costs';

/** Random costs with short minimum stays, so brute force over all sequences exercises the penalties. */
function randomCosts(rng: Rng): TierCosts {
  const blob = Float64Array.of(0.5 + rng(), 0.2 + rng() * 0.5, rng() * 0.2);
  const transition = new Float64Array(9);
  for (let i = 0; i < 9; i++) if (i % 4 !== 0) transition[i] = rng() * 3;
  return {
    storagePerDay: Float64Array.from(blob, (b) => b + rng() * 0.3),
    blobStoragePerDay: blob,
    minStayDays: Int32Array.of(0, Math.floor(rng() * 4), Math.floor(rng() * 5)), // 0 included
    read: Float64Array.of(rng() * 0.2, rng() * 0.5, 1 + rng() * 4),
    write: Float64Array.of(rng() * 0.3, rng() * 0.5, rng() * 2),
    transition,
  };
}

function randomDays(rng: Rng, days: number, density: number): Uint32Array {
  return Uint32Array.from({ length: days }, () => (rng() < density ? 1 + Math.floor(rng() * 3) : 0));
}

/** Minimum of `accountPath` over every tier sequence that starts hot on day `from`. */
function bruteForce(costs: TierCosts, reads: Uint32Array, writes: Uint32Array, from: number, to: number) {
  const n = to - from - 1;
  const tiers = new Uint8Array(to);
  let best = Infinity;
  for (let code = 0; code < 3 ** n; code++) {
    let c = code;
    tiers[from] = 0;
    for (let d = from + 1; d < to; d++) {
      tiers[d] = c % 3;
      c = Math.floor(c / 3);
    }
    best = Math.min(best, accountPath(costs, reads, writes, tiers, from, to, newBreakdown()));
  }
  return best;
}

describe('offline optimum (dynamic program)', () => {
  it('equals brute force over all tier sequences on small cases, and its path costs what it says', () => {
    const rng = makeRng(42);
    const solver = new OptimumSolver(16, 8);
    for (let round = 0; round < 400; round++) {
      const costs = randomCosts(rng);
      const days = 2 + Math.floor(rng() * 8); // up to 9 days: 3^8 sequences
      const from = Math.floor(rng() * 2);
      const reads = randomDays(rng, days, 0.3 + rng() * 0.4);
      const writes = randomDays(rng, days, 0.2);
      const tiers = new Uint8Array(days);
      const value = solver.solve(costs, reads, writes, from, days, tiers);
      const expected = bruteForce(costs, reads, writes, from, days);
      expect(value).toBeCloseTo(expected, 9);
      expect(tiers[from]).toBe(0);
      expect(accountPath(costs, reads, writes, tiers, from, days, newBreakdown())).toBeCloseTo(value, 9);
    }
  });

  it('pays an early-deletion penalty when that is still cheapest, exactly as accounted', () => {
    // Warm is much cheaper to store; a read on day 5 makes the optimum come back after 4 of 30 minimum days.
    const costs: TierCosts = {
      storagePerDay: Float64Array.of(10, 1, 5),
      blobStoragePerDay: Float64Array.of(10, 1, 5),
      minStayDays: Int32Array.of(0, 30, 180),
      read: Float64Array.of(0, 100, 1000),
      write: Float64Array.of(0, 100, 1000),
      transition: Float64Array.of(0, 1, 1000, 1, 0, 1000, 1000, 1000, 0),
    };
    const reads = Uint32Array.of(0, 0, 0, 0, 0, 1, 0);
    const writes = new Uint32Array(7);
    const tiers = new Uint8Array(7);
    const value = new OptimumSolver(7, 180).solve(costs, reads, writes, 0, 7, tiers);
    expect([...tiers]).toEqual([0, 1, 1, 1, 1, 0, 1]);
    const b = newBreakdown();
    // day 0 hot 10; days 1-4 warm 4 x 1; day 5 hot 10; day 6 warm 1; transitions 3 x 1; penalty (30-4) x 1.
    expect(accountPath(costs, reads, writes, tiers, 0, 7, b)).toBe(10 + 4 + 10 + 1 + 3 + 26);
    expect(b[B_PENALTIES]).toBe(26);
    expect(b[B_TRANSITIONS]).toBe(3);
    expect(value).toBeCloseTo(54, 12);
  });

  it('handles a two-year horizon with Azure-like minimum stays (30 and 180 days)', () => {
    const rng = makeRng(7);
    const solver = new OptimumSolver(730, 180);
    for (let round = 0; round < 20; round++) {
      const costs = { ...randomCosts(rng), minStayDays: Int32Array.of(0, 30, 180) };
      const reads = randomDays(rng, 730, 0.02);
      const writes = randomDays(rng, 730, 0.005);
      const tiers = new Uint8Array(730);
      const value = solver.solve(costs, reads, writes, 0, 730, tiers);
      expect(accountPath(costs, reads, writes, tiers, 0, 730, newBreakdown())).toBeCloseTo(value, 6);
      // Never worse than a few obvious sequences.
      for (const t of [0, 1, 2]) {
        const fixed = new Uint8Array(730).fill(t);
        fixed[0] = 0;
        expect(value).toBeLessThanOrEqual(
          accountPath(costs, reads, writes, fixed, 0, 730, newBreakdown()) + 1e-9,
        );
      }
    }
  });
});
