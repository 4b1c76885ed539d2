import { describe, expect, it } from 'vitest';
import { accountPath, B_PENALTIES, breakdownTotal, newBreakdown } from './accounting';
import { OptimumSolver } from './optimum';
import {
  accountThresholdPolicy,
  allHot,
  crossing,
  decideTier,
  productPolicy,
  productThresholds,
  runOnline,
  staticPolicy,
  staticThresholds,
  TierState,
} from './policies';
import { accountAllHot } from './simulate';
import { COLD, HOT, simPricesFromTable, tierCosts, WARM } from './tier-costs';
import { generateTwin, newTwinTrace, planTrace } from './trace';
import { defaultPriceTable } from '../model/prices';

const prices = simPricesFromTable();
const twin10k = { markdownBytes: 10_000, imageBytes: 0, imageBlobs: 0, metadataBytes: 1024 };

describe('decideTier (product policy)', () => {
  const t = { warmAfterDays: 10, coldAfterDays: 40, minStayDays: [0, 30, 180] as const };
  const at = (tier: 0 | 1 | 2, enteredDay: number, lastAccessDay: number): TierState => ({
    tier,
    enteredDay,
    lastAccessDay,
  });

  it('promotes on access, demotes after the idle thresholds', () => {
    expect(decideTier(at(COLD, 0, 100), 100, t)).toBe(HOT);
    expect(decideTier(at(HOT, 0, 0), 9, t)).toBe(HOT);
    expect(decideTier(at(HOT, 0, 0), 10, t)).toBe(WARM);
    expect(decideTier(at(HOT, 0, 0), 45, t)).toBe(COLD);
  });

  it('never leaves a tier before its minimum stay, and never promotes on a timer', () => {
    expect(decideTier(at(WARM, 20, 0), 45, t)).toBe(WARM); // 25 days in warm < 30
    expect(decideTier(at(WARM, 10, 0), 45, t)).toBe(COLD); // 35 days in warm
    expect(decideTier(at(COLD, 10, 0), 12, t)).toBe(COLD);
  });
});

describe('break-even thresholds', () => {
  it('crossing() finds where a cheaper-to-keep line drops below another', () => {
    const hot = { fixed: 0, rate: 2, min: 0, penalty: 0 };
    expect(crossing(hot, { fixed: 10, rate: 1, min: 0, penalty: 0 })).toBe(10);
    // With a 30-day minimum, the warm line costs as if kept 30 days until day 30.
    expect(crossing(hot, { fixed: 10, rate: 1, min: 30, penalty: 1 })).toBe(20);
    expect(crossing(hot, { fixed: 10, rate: 3, min: 0, penalty: 0 })).toBe(Infinity);
  });

  it('keeps a 10 KB twin hot for years (transitions cost more than storage saves) and tiers big ones', () => {
    const small = productThresholds(tierCosts(prices, twin10k));
    expect(small.warmAfterDays).toBeGreaterThan(730);
    expect(small.coldAfterDays).toBeGreaterThan(730);
    const big = productThresholds(tierCosts(prices, { ...twin10k, markdownBytes: 20_000_000 }));
    expect(big.warmAfterDays).toBeLessThan(60);
    expect(big.coldAfterDays).toBeGreaterThan(big.warmAfterDays);
  });
});

describe('accounting', () => {
  it('charges the minimum-stay penalty exactly: (min - days stayed) x blob storage per day', () => {
    const costs = tierCosts(prices, twin10k);
    const days = 60;
    const reads = new Uint32Array(days);
    const writes = new Uint32Array(days);
    reads[11] = 1;
    reads[50] = 1;
    const tiers = new Uint8Array(days);
    for (let d = 1; d < 11; d++) tiers[d] = WARM; // 10 days in Cool (min 30)
    for (let d = 12; d < 50; d++) tiers[d] = COLD; // 38 days in Archive (min 180)
    const b = newBreakdown();
    accountPath(costs, reads, writes, tiers, 0, days, b);
    const expected = 20 * costs.blobStoragePerDay[WARM] + 142 * costs.blobStoragePerDay[COLD];
    expect(b[B_PENALTIES]).toBeCloseTo(expected, 18);
    expect(costs.minStayDays[WARM]).toBe(30);
    expect(costs.minStayDays[COLD]).toBe(180);
  });

  it('all hot costs what independent arithmetic from the price table says', () => {
    const table = defaultPriceTable();
    const usd = (k: keyof typeof table.prices) => table.prices[k].usd;
    const reads = Uint32Array.of(0, 0, 3, 0, 1, 0, 0, 2, 0, 0);
    const writes = Uint32Array.of(0, 1, 0, 0, 0, 0, 0, 1, 0, 0);
    // Created on day 1: 9 days hot, 6 reads, 2 writes (the creation included).
    const daysPerMonth = table.hoursPerMonth / 24;
    const gib = 1024 ** 3;
    const storagePerDay =
      ((10_000 / gib) * usd('blob.storage.hot') + (1024 / gib) * usd('cosmos.storage')) / daysPerMonth;
    const ru = usd('cosmos.serverless.perMillionRu') / 1e6;
    const readCost = 1 * ru + usd('blob.ops.hot.read') / 10_000;
    const writeCost = 5.5 * ru + usd('blob.ops.hot.write') / 10_000;
    const expected = 9 * storagePerDay + 6 * readCost + 2 * writeCost;

    const costs = tierCosts(prices, twin10k);
    const tiers = new Uint8Array(10);
    runOnline(allHot, reads, writes, 1, 10, tiers);
    expect(accountPath(costs, reads, writes, tiers, 1, 10, newBreakdown())).toBeCloseTo(expected, 15);
    const b = newBreakdown();
    expect(accountAllHot(costs, { created: 1, totalReads: 6, totalWrites: 2 }, 10, b)).toBeCloseTo(
      expected,
      15,
    );
    expect(breakdownTotal(b)).toBeCloseTo(expected, 15);
  });
});

describe('policies on generated twins', () => {
  const plan = planTrace({ twins: 1_500, days: 730, seed: 5 });
  const twin = newTwinTrace(730);
  const solver = new OptimumSolver(730, 180);
  const tiers = new Uint8Array(730);

  it('the fast threshold path equals runOnline(decideTier) + accountPath', () => {
    for (let i = 0; i < 300; i++) {
      generateTwin(plan, i, twin);
      const costs = tierCosts(prices, {
        ...twin.size,
        markdownBytes: twin.size.markdownBytes * (1 + (i % 7) * 300),
      });
      for (const t of [
        productThresholds(costs),
        staticThresholds(),
        productThresholds(costs, { scale: 0.01 }),
      ]) {
        const slow = newBreakdown();
        runOnline(productPolicy(t), twin.reads, twin.writes, twin.created, 730, tiers);
        accountPath(costs, twin.reads, twin.writes, tiers, twin.created, 730, slow);
        const fast = newBreakdown();
        accountThresholdPolicy(costs, twin.reads, twin.writes, twin.created, 730, t, fast);
        for (let k = 0; k < slow.length; k++) expect(fast[k]).toBeCloseTo(slow[k], 12);
      }
      // The static policy as written in the reference (deriveTier's thresholds) is the same sequence.
      const a = new Uint8Array(730);
      runOnline(staticPolicy(), twin.reads, twin.writes, twin.created, 730, a);
      runOnline(productPolicy(staticThresholds()), twin.reads, twin.writes, twin.created, 730, tiers);
      expect([...a.subarray(twin.created)]).toEqual([...tiers.subarray(twin.created)]);
    }
  });

  it('no policy ever beats the offline optimum, twin by twin', () => {
    for (let i = 0; i < plan.params.twins; i++) {
      generateTwin(plan, i, twin);
      // Vary sizes so that warm and cold actually get used.
      const costs = tierCosts(prices, {
        ...twin.size,
        markdownBytes: twin.size.markdownBytes * (1 + (i % 5) * 500),
      });
      const { reads, writes, created } = twin;
      const optimum = solver.solve(costs, reads, writes, created, 730, tiers);
      expect(accountPath(costs, reads, writes, tiers, created, 730, newBreakdown())).toBeCloseTo(optimum, 12);
      const eps = 1e-12 + optimum * 1e-9;
      for (const t of [
        productThresholds(costs),
        staticThresholds(),
        productThresholds(costs, { scale: 0.1 }),
      ]) {
        const cost = accountThresholdPolicy(costs, reads, writes, created, 730, t, newBreakdown());
        expect(cost).toBeGreaterThanOrEqual(optimum - eps);
      }
      const hot = accountAllHot(costs, twin, 730, newBreakdown());
      expect(hot).toBeGreaterThanOrEqual(optimum - eps);
    }
  });
});
