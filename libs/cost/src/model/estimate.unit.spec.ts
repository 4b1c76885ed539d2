import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COST_KINDS,
  COST_SERVICES,
  COST_TIERS,
  estimate,
  EstimateInput,
  EstimateInputError,
  formatCents,
  loadPriceTable,
  toCents,
} from './index';

const prices = loadPriceTable();
const base: EstimateInput = {
  twins: 1_000_000,
  avgKb: 10,
  writesPerDay: 60_000,
  readsPerDay: 100_000,
  searchesPerDay: 10_000,
  share: { hot: 0.05, warm: 0.25, cold: 0.7 },
  imagesPerTwin: 3,
  avgImageKb: 50,
};

describe('estimate: recomputed by independent arithmetic from the JSON price table', () => {
  it('gets the same cents, line by line and in total', () => {
    // The raw file, not the loader: p('blob.storage.hot') is read straight from the JSON.
    const raw = JSON.parse(readFileSync(join(__dirname, 'prices', 'azure-2026-11.json'), 'utf8')) as {
      hoursPerMonth: number;
      prices: Record<string, { usd: number }>;
      limits: { cosmosRuPerKbWrite: number; cosmosRuPerKbRead: number };
    };
    const p = (k: string) => raw.prices[k].usd;
    const D = 730 / 24; // days in a 730-hour month
    const GB = 1024 * 1024; // KB per GB
    // Quantities, by hand
    const hot = 50_000,
      warm = 250_000,
      cold = 700_000; // twins per tier
    const W = 60_000 * D,
      R = 100_000 * D;
    const readsHot = R * 0.95,
      readsWarm = R * 0.04,
      readsCold = R * 0.01;
    const missHot = readsHot * 0.2,
      missWarm = readsWarm * 0.8,
      missCold = readsCold; // hit 80% / 20% / 0%
    const hotToWarm = (hot * D) / 30; // each hot twin leaves after 30 days
    const warmToCold = (warm * D) / 335; // and warm after 335 more
    const sbOps = (W + hotToWarm + warmToCold + missCold) * (1 + 2 * 4); // send + 4 x (receive + complete)
    const sbMillions = sbOps / 1e6;
    // 0-13M free, 13M-100M at the 0.80 tier
    expect(sbMillions).toBeGreaterThan(13);
    expect(sbMillions).toBeLessThan(100);
    const sbUsd = (sbMillions - 13) * 0.8;
    const lines: [string, number][] = [
      ['hot content', ((hot * 10) / GB) * p('blob.storage.hot')],
      ['hot images', ((hot * 150) / GB) * p('blob.storage.hot')],
      ['cool content', ((warm * 10) / GB) * p('blob.storage.cool')],
      ['cool images', ((warm * 150) / GB) * p('blob.storage.cool')],
      ['archive content', ((cold * 10) / GB) * p('blob.storage.archive')],
      ['archive images', ((cold * 150) / GB) * p('blob.storage.archive')],
      ['pointers', ((1_000_000 * 1) / GB) * p('blob.storage.hot')],
      ['hot writes', ((2 * W) / 1e4) * p('blob.ops.hot.write')], // content + pointer
      ['other per save', ((2 * W) / 1e4) * p('blob.ops.hot.other')], // properties requests
      ['reads per save', (W / 1e4) * p('blob.ops.hot.read')],
      ['hot reads', (missHot / 1e4) * p('blob.ops.hot.read')],
      ['cool reads', (missWarm / 1e4) * p('blob.ops.cool.read')],
      ['cool retrieval', ((missWarm * 10) / GB) * p('blob.retrieval.cool')],
      ['tier changes', (hotToWarm / 1e4) * p('blob.ops.cool.write')],
      ['bundle writes', (warmToCold / 1000 / 1e4) * p('blob.ops.archive.write')],
      ['archive reads', (missCold / 1e4) * p('blob.ops.archive.read')],
      ['archive retrieval', missCold * ((1000 * 10) / GB) * p('blob.retrieval.archive')],
      ['rehydrated copies', (missCold / 1e4) * p('blob.ops.hot.write')],
      ['cosmos storage', ((hot * 1) / GB) * p('cosmos.storage')],
      [
        'cosmos RU',
        ((W * 5.5 + W * 3 * 1 + missHot * 1 + hotToWarm * 5.5) / 1e6) * p('cosmos.serverless.perMillionRu'),
      ],
      ['table warm', ((warm * 1) / GB) * p('table.storage')],
      ['table hot', ((hot * 1) / GB) * p('table.storage')],
      ['table cold', ((cold * 1) / GB) * p('table.storage')],
      ['table hot ops', ((2 * W + readsHot) / 1e4) * p('table.transactions')],
      ['table warm reads', ((missWarm + readsWarm) / 1e4) * p('table.transactions')],
      ['table moves', (hotToWarm / 1e4) * p('table.transactions')],
      ['table cold ops', ((warmToCold + readsCold) / 1e4) * p('table.transactions')],
      // 9.54 GB of index fits one Basic partition (15 GB)
      ['search', 1 * 730 * p('search.basic.unitHour')],
      ['bus namespace', 730 * p('servicebus.standard.baseHour')],
      ['bus operations', sbUsd],
      // working set (60k writes + 95k hot reads per day)/24 + 4k warm reads/288, x 10 KB x 1.5 = ~0.07 GB: C0
      ['redis', 730 * p('redis.standard.c0.hour')],
    ];
    const expectedCents = lines.map(([, usd]) => Math.round(usd * 100));
    const result = estimate(base, prices);
    expect(result.lines.map((l) => l.cents)).toEqual(expectedCents);
    const total = expectedCents.reduce((a, b) => a + b, 0);
    expect(result.totalCents).toBe(total);
    expect(total).toBe(177_60); // $177.60, quoted in docs/cost.md
    // The headline figure of this scenario (docs/cost.md quotes it).
    expect(formatCents(result.totalCents)).toBe(formatCents(total));
    expect(result.quantities.searchSku).toBe('basic');
    expect(result.quantities.redisSku).toBe('c0');
  });
});

describe('estimate', () => {
  it('adds up: per service, per tier and per kind all sum to the total', () => {
    const e = estimate({ ...base, regions: 2, cosmosMode: 'provisioned' }, prices);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(COST_SERVICES.map((s) => e.byService[s].total))).toBe(e.totalCents);
    expect(sum(COST_TIERS.map((t) => e.byTier[t].total))).toBe(e.totalCents);
    expect(sum(COST_KINDS.map((k) => e.byKind[k]))).toBe(e.totalCents);
    expect(sum(e.lines.map((l) => l.cents))).toBe(e.totalCents);
    for (const s of COST_SERVICES) {
      const t = e.byService[s];
      expect(t.storage + t.operations + t.capacity + t.transfer).toBe(t.total);
    }
  });

  it('keeps storage and operations apart: 10 KB objects cost more in operations than in storage', () => {
    const e = estimate({ ...base, imagesPerTwin: 0 }, prices);
    expect(e.byService.blob.operations).toBeGreaterThan(10 * e.byService.blob.storage);
  });

  it('prices cold reads as rehydrations, high priority dearer than standard', () => {
    const std = estimate(base, prices);
    const high = estimate({ ...base, rehydratePriority: 'high' }, prices);
    expect(std.lines.some((l) => l.priceKey === 'blob.ops.archive.read')).toBe(true);
    expect(high.lines.some((l) => l.priceKey === 'blob.rehydrate.high.read')).toBe(true);
    expect(high.byTier.cold.operations).toBeGreaterThan(std.byTier.cold.operations);
  });

  it('provisioned Cosmos never goes below 400 RU/s', () => {
    const e = estimate({ ...base, writesPerDay: 10, readsPerDay: 10, cosmosMode: 'provisioned' }, prices);
    expect(e.quantities.cosmosProvisionedRuPerSecond).toBe(400);
    const line = e.lines.find((l) => l.priceKey === 'cosmos.provisioned.per100RuSecondHour')!;
    expect(line.cents).toBe(toCents(4 * 730 * 0.008));
  });

  it('picks a search tier whose partitions hold the index (5M x 10 KB does not fit Basic)', () => {
    const e = estimate({ ...base, twins: 5_000_000 }, prices);
    expect(e.quantities.searchIndexGb).toBeGreaterThan(45);
    expect(e.quantities.searchSku).toBe('s1');
    const forced = estimate({ ...base, twins: 5_000_000, searchSku: 'basic' }, prices);
    expect(forced.assumptions.some((a) => a.startsWith('WARNING'))).toBe(true);
  });

  it('regions multiply storage and write operations, not reads', () => {
    const one = estimate(base, prices);
    const two = estimate({ ...base, regions: 2 }, prices);
    const item = (e: typeof one, name: string) => e.lines.find((l) => l.item === name)!;
    expect(item(two, 'Cool content').quantity).toBeCloseTo(2 * item(one, 'Cool content').quantity, 9);
    expect(item(two, 'Hot reads (cache misses)').quantity).toBe(
      item(one, 'Hot reads (cache misses)').quantity,
    );
    expect(two.byService.bandwidth.transfer).toBeGreaterThan(0);
  });

  it('sends no reads to a tier without twins', () => {
    const e = estimate({ ...base, share: { hot: 1, warm: 0, cold: 0 } }, prices);
    expect(e.input.readShare).toEqual({ hot: 1, warm: 0, cold: 0 });
    expect(e.byTier.cold.total).toBe(0);
    expect(() =>
      estimate(
        { ...base, share: { hot: 1, warm: 0, cold: 0 }, readShare: { hot: 0.9, warm: 0, cold: 0.1 } },
        prices,
      ),
    ).toThrow(/readShare.cold is above 0 but share.cold is 0/);
  });

  it('refuses bad input with a clear message', () => {
    expect(() => estimate({ ...base, share: { hot: 0.5, warm: 0.5, cold: 0.5 } }, prices)).toThrow(
      /share must add up to 1/,
    );
    expect(() => estimate({ ...base, twins: -1 }, prices)).toThrow(EstimateInputError);
    expect(() => estimate({ ...base, regions: 1.5 }, prices)).toThrow(/regions/);
  });

  it('rounds half up, ignoring floating-point noise', () => {
    expect(toCents(0.125)).toBe(13);
    expect(toCents(1.005)).toBe(101);
    expect(toCents(0.004999)).toBe(0);
    expect(formatCents(123456789)).toBe('1,234,567.89');
  });
});
