import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillingMeter } from '@twinstore/application';
import { contentPath, parseMetadata, TwinRecord, VersionGenerator } from '@twinstore/domain';
import { startCosmosServer, TestCosmosServer } from '@twinstore/testing';
import { createCosmosTwinCatalog } from './cosmos-twin-catalog.adapter';

let server: TestCosmosServer;
beforeAll(async () => {
  server = await startCosmosServer();
});
afterAll(async () => {
  await server?.stop();
});

/** A meter that remembers what it was told: `${service}/${operation}/${tier}` -> amount. */
function countingMeter() {
  const counts = new Map<string, number>();
  const meter: BillingMeter = {
    record: (service, operation, tier = 'none', amount = 1) => {
      const key = `${service}/${operation}/${tier}`;
      counts.set(key, (counts.get(key) ?? 0) + amount);
    },
  };
  return { meter, counts, get: (key: string) => counts.get(key) ?? 0 };
}

describe('Cosmos adapter counts its billable operations and request units (cosmosdb-server)', () => {
  it('reads, writes and queries, with the RU charge from the responses', async () => {
    const m = countingMeter();
    const catalog = createCosmosTwinCatalog({
      endpoint: server.endpoint,
      key: server.key,
      container: `twins-${randomBytes(6).toString('hex')}`,
      connectionPolicy: { enableEndpointDiscovery: false },
      meter: m.meter,
    });
    await catalog.ensureContainer();
    try {
      let ms = Date.UTC(2026, 10, 29);
      const version = new VersionGenerator(() => new Date((ms += 1000))).next();
      const record: TwinRecord = {
        leadId: 'lead-1',
        version,
        blobPath: contentPath('lead-1', version),
        contentHash: 'ab'.repeat(32),
        size: 10_240,
        savedAt: new Date(ms).toISOString(),
        metadata: parseMetadata({}),
      };
      expect(await catalog.upsert(record)).toBe('applied');
      // version guard: a point read, then the create
      expect(m.get('cosmos/read/hot')).toBe(1);
      expect(m.get('cosmos/write/hot')).toBe(1);
      await catalog.get('lead-1');
      expect(m.get('cosmos/read/hot')).toBe(2);
      await catalog.count();
      expect(m.get('cosmos/query/hot')).toBeGreaterThanOrEqual(1);
      // cosmosdb-server charges 1 RU per response (x-ms-request-charge: 1); Azure charges ~1 per read, ~5.5 per 1 KB write
      expect(m.get('cosmos/request_units/hot')).toBe(
        m.get('cosmos/read/hot') + m.get('cosmos/write/hot') + m.get('cosmos/query/hot'),
      );
    } finally {
      await catalog.container.delete();
      await catalog.close();
    }
  });
});
