import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graduatedCost, loadPriceTable, PRICE_KEYS, PriceTableError } from './index';

describe('price table', () => {
  const table = loadPriceTable();

  it('is dated, in USD, and every price has a source and a retrieval date', () => {
    expect(table.currency).toBe('USD');
    expect(table.region).toBe('eastus');
    for (const key of PRICE_KEYS) {
      const p = table.prices[key];
      expect(p.source, key).toMatch(/^https:\/\/|FACTS\.md/);
      expect(p.retrieved, key).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(p.usd, key).toBeGreaterThanOrEqual(0);
    }
  });

  it("uses FACTS.md's numbers where it gives them", () => {
    const usd = (k: (typeof PRICE_KEYS)[number]) => table.prices[k].usd;
    expect(usd('blob.ops.hot.write')).toBe(0.055);
    expect(usd('blob.ops.archive.read')).toBe(5.5);
    expect(usd('cosmos.provisioned.per100RuSecondHour')).toBe(0.008);
    expect(usd('cosmos.serverless.perMillionRu')).toBe(0.25);
    expect(usd('cosmos.storage')).toBe(0.25);
    expect(usd('search.basic.unitHour') * table.hoursPerMonth).toBe(73);
    expect(usd('blob.storage.hot')).toBeGreaterThanOrEqual(0.018);
    expect(usd('blob.storage.hot')).toBeLessThanOrEqual(0.021);
    expect(usd('blob.storage.cool')).toBeGreaterThanOrEqual(0.01);
    expect(usd('blob.storage.cool')).toBeLessThanOrEqual(0.0115);
    expect(usd('blob.storage.archive')).toBeGreaterThanOrEqual(0.001);
    expect(usd('blob.storage.archive')).toBeLessThanOrEqual(0.002);
    expect(table.limits.blobEarlyDeletionDays).toEqual({ hot: 0, cool: 30, cold: 90, archive: 180 });
    expect(table.limits.cosmosRuPerKbWrite).toBe(5.5);
    expect(table.limits.cosmosRuPerKbRead).toBe(1);
    expect(table.limits.cosmosMinProvisionedRuPerSecond).toBe(400);
  });

  it('takes a partial override over the bundled table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prices-'));
    const file = join(dir, 'override.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'negotiated',
        prices: {
          'blob.storage.hot': {
            usd: 0.015,
            unit: 'GB-month',
            source: 'contract 42',
            retrieved: '2026-11-01',
          },
        },
      }),
    );
    const merged = loadPriceTable(file);
    expect(merged.name).toBe('negotiated');
    expect(merged.prices['blob.storage.hot'].usd).toBe(0.015);
    expect(merged.prices['blob.storage.cool'].usd).toBe(table.prices['blob.storage.cool'].usd);
  });

  it('refuses a broken override', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prices-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        prices: { 'blob.storage.hot': { usd: -1, unit: 'GB', source: 'x', retrieved: '2026-01-01' } },
      }),
    );
    expect(() => loadPriceTable(bad)).toThrow(PriceTableError);
    writeFileSync(
      bad,
      JSON.stringify({
        prices: { 'blob.storage.tepid': { usd: 1, unit: 'GB', source: 'x', retrieved: '2026-01-01' } },
      }),
    );
    expect(() => loadPriceTable(bad)).toThrow(/unknown price keys blob.storage.tepid/);
    writeFileSync(bad, '{ not json');
    expect(() => loadPriceTable(bad)).toThrow(/cannot read price table/);
  });

  it('prices graduated tiers (Service Bus: first 13M operations included)', () => {
    const ops = table.prices['servicebus.standard.operations'];
    expect(graduatedCost(ops, 10)).toBe(0);
    expect(graduatedCost(ops, 20)).toBeCloseTo(7 * 0.8, 10);
    expect(graduatedCost(ops, 150)).toBeCloseTo(87 * 0.8 + 50 * 0.5, 10);
  });
});
