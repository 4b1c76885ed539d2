import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentPath, TwinRecord, VersionGenerator } from '@twinstore/domain';
import { describeRecentWritesContract, startAzurite, TestAzurite } from '@twinstore/testing';
import {
  createTableRecentWrites,
  TableRecentWrites,
  TableRecentWritesOptions,
} from './table-recent-writes.adapter';

let azurite: TestAzurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A table per test (names: letters and digits only). */
async function openStore(
  table = `rw${randomBytes(6).toString('hex')}`,
  options: Partial<TableRecentWritesOptions> = {},
): Promise<TableRecentWrites> {
  const store = createTableRecentWrites({ connectionString: azurite.connectionString, table, ...options });
  await store.ensureTable();
  return store;
}

describeRecentWritesContract('TableRecentWrites (Azurite)', async (options) => {
  const table = `rw${randomBytes(6).toString('hex')}`;
  const opened = [await openStore(table, options)];
  return {
    subject: opened[0],
    sibling: async () => {
      const other = await openStore(table, options);
      opened.push(other);
      return other;
    },
    cleanup: async () => {
      await opened[0].table.deleteTable();
      await Promise.all(opened.map((s) => s.close()));
    },
  };
});

describe('TableRecentWrites on Azurite', () => {
  let now = Date.UTC(2030, 0, 1);
  const versions = new VersionGenerator(() => new Date(now));
  const record = (leadId: string, long = false): TwinRecord => {
    const version = versions.next();
    return {
      leadId,
      version,
      blobPath: contentPath(leadId, version),
      contentHash: '00'.repeat(32),
      size: 1,
      savedAt: new Date(now).toISOString(),
      metadata: { classification: 'warm', tags: [], extra: long ? { long: 'x'.repeat(40_000) } : {} },
    };
  };

  it('notes a batch in one transaction per partition, and falls back for leads already noted', async () => {
    const store = await openStore(undefined, { now: () => now, pruneIntervalMs: 0 });
    const requests: string[] = [];
    const submit = store.table.submitTransaction.bind(store.table);
    store.table.submitTransaction = (actions, options) => {
      requests.push(actions.map((a) => a[0]).join(','));
      return submit(actions, options);
    };
    const batch = Array.from({ length: 100 }, (_, i) => record(`lead-${i}`, i === 7));
    await store.note(batch);
    expect(requests.length).toBeLessThanOrEqual(16);
    expect(await store.latest('lead-7')).toEqual(batch[7]); // a record longer than one string property
    const again = Array.from({ length: 100 }, (_, i) => record(`lead-${i}`));
    await store.note(again);
    expect(await store.latest('lead-7')).toEqual(again[7]);
    await store.table.deleteTable();
  });

  it('prunes entities older than the horizon', async () => {
    const store = await openStore(undefined, { now: () => now, horizonMs: 1000, pruneIntervalMs: 0 });
    await store.note([record('a'), record('b')]);
    await store.forget('c', versions.next());
    now += 1000;
    await store.note([record('d')]);
    expect(await store.pruneExpired()).toBe(3);
    expect(await store.latest('d')).not.toBeNull();
    await store.table.deleteTable();
  });
});
