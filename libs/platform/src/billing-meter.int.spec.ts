import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFsContentStore, openSqliteEventBus } from '@twinstore/adapters-embedded';
import { createTableActivityStore, tableBillingClientOptions } from '@twinstore/adapters-azure-table';
import { done, retry } from '@twinstore/application';
import { liveCost, loadPriceTable, parsePrometheusText } from '@twinstore/cost';
import { VersionGenerator } from '@twinstore/domain';
import { makeTempDir, sampleBusEvent, startAzurite, TempDir, TestAzurite } from '@twinstore/testing';
import { meterEmbedded, meterEmbeddedBus, prometheusBillingMeter } from './billing-meter';
import { createMetricsRegistry } from './metrics';

let tmp: TempDir;
let azurite: TestAzurite;
beforeAll(async () => {
  tmp = await makeTempDir('billing-meter');
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
  await tmp?.cleanup();
});

describe('billing meter', () => {
  it('exposes twins_billable_operations_total with the Azure service label, which `twins cost report` prices', async () => {
    const registry = createMetricsRegistry('ingest-api');
    const meter = prometheusBillingMeter(registry);
    meter.record('blob', 'write', 'hot', 2);
    meter.record('cosmos', 'request_units', 'hot', 5.5);
    meter.record('blob', 'write', 'hot', Number.NaN); // ignored
    const text = await registry.metrics();
    expect(text).toContain('twins_billable_operations_total{service="blob",operation="write",tier="hot"} 2');
    const parsed = parsePrometheusText(text);
    expect(parsed.processStartSeconds).toBeGreaterThan(1_600_000_000);
    const cost = liveCost([{ source: 'test', seconds: 1, samples: parsed.samples }], loadPriceTable());
    expect(cost.byService.blob).toBe(Math.round(((2 * 730 * 3600) / 1e4) * 0.055 * 100));
  });

  it('embedded adapters count the Azure operation they stand for', async () => {
    const counts = new Map<string, number>();
    const meter = {
      record: (s: string, o: string, t = 'none', n = 1) =>
        counts.set(`${s}/${o}/${t}`, (counts.get(`${s}/${o}/${t}`) ?? 0) + n),
    };
    const store = meterEmbedded('content', openFsContentStore({ dir: `${tmp.dir}/blobs` }), meter);
    await store.put('digital-twins/2026/11/29/a.md', Buffer.from('# a'), { contentType: 'text/markdown' });
    await store.get('digital-twins/2026/11/29/a.md');
    expect(counts.get('blob/write/hot')).toBe(1);
    expect(counts.get('blob/read/hot')).toBe(1);

    const bus = meterEmbeddedBus(
      openSqliteEventBus({
        file: `${tmp.dir}/bus.db`,
        subscriptions: { writer: ['twin.saved.v1'] },
        maxDeliveryCount: 3,
      }),
      meter,
    );
    let calls = 0;
    const received = new Promise<void>((resolve) => {
      bus.subscribe(
        'writer',
        async () => {
          calls++;
          if (calls === 1) return retry('once');
          resolve();
          return done();
        },
        { concurrency: 1, types: ['twin.saved.v1'] },
      );
    });
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    await received;
    await bus.close();
    expect(counts.get('serviceBus/send/none')).toBe(1);
    expect(counts.get('serviceBus/receive/none')).toBe(2);
    expect(counts.get('serviceBus/abandon/none')).toBe(1);
    expect(counts.get('serviceBus/complete/none')).toBe(1);
  });

  it('table stores count every request as a transaction (Azurite)', async () => {
    let transactions = 0;
    const store = createTableActivityStore({
      connectionString: azurite.connectionString,
      table: `t${randomBytes(6).toString('hex')}`,
      clientOptions: tableBillingClientOptions({
        record: (s, o) => (transactions += s === 'table' && o === 'transaction' ? 1 : 0),
      }),
    });
    await store.ensureTable();
    const before = transactions;
    expect(before).toBeGreaterThanOrEqual(1);
    const v = new VersionGenerator(() => new Date(Date.UTC(2026, 10, 29))).next();
    await store.recordWrite('lead-1', v, new Date(Date.UTC(2026, 10, 29)));
    expect(transactions).toBeGreaterThan(before);
    await store.close();
  });
});
