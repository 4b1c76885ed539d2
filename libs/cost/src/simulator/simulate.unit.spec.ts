import { describe, expect, it } from 'vitest';
import { formatSimulation } from './report';
import { simulate } from './simulate';
import { generateTwin, newTwinTrace, planTrace } from './trace';

describe('trace generator', () => {
  it('is deterministic by seed and differs across seeds', () => {
    const a = newTwinTrace(365);
    const b = newTwinTrace(365);
    const plan1 = planTrace({ twins: 1000, days: 365, seed: 9 });
    const plan2 = planTrace({ twins: 1000, days: 365, seed: 10 });
    let differs = 0;
    for (let i = 0; i < 200; i++) {
      generateTwin(plan1, i, a);
      generateTwin(planTrace({ twins: 1000, days: 365, seed: 9 }), i, b);
      expect([...a.reads]).toEqual([...b.reads]);
      expect([...a.writes]).toEqual([...b.writes]);
      expect(a.size).toEqual(b.size);
      generateTwin(plan2, i, b);
      if (a.created !== b.created || a.totalReads !== b.totalReads) differs++;
    }
    expect(differs).toBeGreaterThan(150);
  });

  it('has Zipf popularity, ageing and campaigns', () => {
    const plan = planTrace({ twins: 20_000, days: 730, seed: 1 });
    const t = newTwinTrace(730);
    const readsByRank: number[] = [];
    let young = 0;
    let old = 0;
    let campaign = 0;
    let before = 0;
    for (let i = 0; i < 20_000; i++) {
      generateTwin(plan, i, t);
      readsByRank.push(t.totalReads);
      campaign += t.campaignReads;
      expect(t.writes[t.created]).toBeGreaterThanOrEqual(1);
      for (let d = 0; d < t.created; d++) if (t.reads[d] + t.writes[d] !== 0) before++;
      if (t.created === 0) {
        // Twins read at least once in their first month vs in their eleventh.
        if (t.reads.subarray(1, 31).some((r) => r > 0)) young++;
        if (t.reads.subarray(301, 331).some((r) => r > 0)) old++;
      }
    }
    readsByRank.sort((x, y) => y - x);
    const total = readsByRank.reduce((s, v) => s + v, 0);
    const top1pct = readsByRank.slice(0, 200).reduce((s, v) => s + v, 0);
    expect(top1pct / total).toBeGreaterThan(0.3); // heavy head
    expect(before).toBe(0); // nothing happens to a twin before it is created
    expect(young).toBeGreaterThan(3 * old); // ageing
    expect(plan.campaigns.length).toBe(12);
    expect(campaign).toBeGreaterThan(0);
  });
});

describe('simulate', () => {
  it('is deterministic by seed', () => {
    const a = simulate({ trace: { twins: 2_000, days: 400, seed: 3 } });
    const b = simulate({ trace: { twins: 2_000, days: 400, seed: 3 } });
    expect(a.policies).toEqual(b.policies);
    expect(a.totals).toEqual(b.totals);
    const c = simulate({ trace: { twins: 2_000, days: 400, seed: 4 } });
    expect(c.policies[0].totalUsd).not.toBe(a.policies[0].totalUsd);
  });

  it('the product policy is within 10% of the offline optimum on 20k twins over two years', () => {
    const r = simulate({ trace: { twins: 20_000, days: 730, seed: 1 } });
    const by = Object.fromEntries(r.policies.map((p) => [p.policy, p]));
    expect(r.optimumViolations).toBe(0);
    expect(by.product.ratioToOptimum).toBeLessThanOrEqual(1.1);
    expect(by.product.ratioToOptimum).toBeGreaterThanOrEqual(1);
    // The reference's static policy is far off (transitions into Cool and rehydrations from Archive).
    expect(by.static.ratioToOptimum).toBeGreaterThan(2);
    expect(by.static.totalUsd).toBeGreaterThan(by.product.totalUsd);
    const text = formatSimulation(r);
    expect(text).toContain('offline optimum');
    expect(text).toContain('product policy:');
  }, 120_000);

  it('sampling scales the sums (representative sample)', () => {
    const full = simulate({ trace: { twins: 8_000, days: 365, seed: 2 } });
    const sample = simulate({ trace: { twins: 8_000, days: 365, seed: 2 }, sampleEvery: 4 });
    expect(sample.simulatedTwins).toBe(2_000);
    // A 1-in-4 sample of 8k twins carries the Zipf head's variance (a few twins take most reads).
    for (let i = 0; i < 4; i++) {
      const rel = sample.policies[i].totalUsd / full.policies[i].totalUsd;
      expect(rel).toBeGreaterThan(0.7);
      expect(rel).toBeLessThan(1.4);
      expect(Math.abs(sample.policies[i].ratioToOptimum / full.policies[i].ratioToOptimum - 1)).toBeLessThan(
        0.2,
      );
    }
  });
});
