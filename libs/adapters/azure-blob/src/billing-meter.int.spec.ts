import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillingMeter } from '@twinstore/application';
import { startAzurite, TestAzurite } from '@twinstore/testing';
import { createAzureBlobContentStore } from './azure-blob-content-store.adapter';

let azurite: TestAzurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
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

describe('Azure Blob adapter counts its billable operations (Azurite)', () => {
  it('by operation class and blob tier', async () => {
    const m = countingMeter();
    const store = createAzureBlobContentStore({
      connectionString: azurite.connectionString,
      container: `t-${randomBytes(6).toString('hex')}`,
      meter: m.meter,
      listPageSize: 1,
    });
    await store.ensureContainer();
    try {
      const put = { contentType: 'text/markdown' };
      await store.put('digital-twins/2026/11/29/a.md', Buffer.from('# a'), put);
      await store.put('digital-twins/2026/11/29/b.md', Buffer.from('# b'), put);
      expect(m.get('blob/write/hot')).toBe(2);

      await store.get('digital-twins/2026/11/29/a.md');
      // Get Blob + Get Blob Properties
      expect(m.get('blob/read/hot')).toBe(1);
      expect(m.get('blob/other/hot')).toBe(1);

      await store.setTier('digital-twins/2026/11/29/b.md', 'cool');
      expect(m.get('blob/set_tier/cool')).toBe(1);
      await store.get('digital-twins/2026/11/29/b.md');
      expect(m.get('blob/read/cool')).toBe(1);

      await store.head('digital-twins/2026/11/29/a.md');
      expect(m.get('blob/other/hot')).toBe(2);
      expect(m.get('blob/other/cool')).toBe(1);

      const listed: string[] = [];
      for await (const b of store.list('digital-twins/')) listed.push(b.path);
      expect(listed).toHaveLength(2);
      // one List Blobs request per page of one
      expect(m.get('blob/list/hot')).toBeGreaterThanOrEqual(2);

      await store.delete('digital-twins/2026/11/29/a.md');
      await store.deleteMany(['digital-twins/2026/11/29/b.md', 'digital-twins/2026/11/29/c.md']);
      expect(m.get('blob/delete/hot')).toBe(3);
    } finally {
      await store.container.deleteIfExists();
    }
  });
});
