import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TIER_THRESHOLDS, Version, VersionGenerator } from '@twinstore/domain';
import {
  describeActivityStoreContract,
  describeTierLedgerContract,
  startAzurite,
  TestAzurite,
} from '@twinstore/testing';
import { ACTIVITY_BUCKETS, activityPartitionKey } from './activity-entity';
import { createTableActivityStore, TableActivityStore } from './table-activity-store.adapter';

let azurite: TestAzurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A table per test (names: letters and digits only). */
async function openStore(): Promise<TableActivityStore> {
  const store = createTableActivityStore({
    connectionString: azurite.connectionString,
    table: `act${randomBytes(6).toString('hex')}`,
  });
  await store.ensureTable();
  return store;
}

async function dropStore(store: TableActivityStore): Promise<void> {
  await store.table.deleteTable();
  await store.close();
}

describeActivityStoreContract('Azure Table (Azurite)', async () => {
  const store = await openStore();
  return { subject: store, cleanup: () => dropStore(store) };
});

describeTierLedgerContract('Azure Table (Azurite)', async () => {
  const store = await openStore();
  return { subject: store, cleanup: () => dropStore(store) };
});

const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 1);

function versions(count: number): Version[] {
  let ms = Date.UTC(2026, 10, 28);
  const generator = new VersionGenerator(() => new Date((ms += 1000)));
  return Array.from({ length: count }, () => generator.next());
}

describe('TableActivityStore on Azurite', () => {
  let store: TableActivityStore;
  const v = versions(3);

  beforeEach(async () => {
    store = await openStore();
  });
  afterEach(async () => {
    await dropStore(store);
  });

  it('keys entities by hash bucket and leadId, with typed activity properties', async () => {
    const leadId = 'c82e9186-babb-465e-bc5f-77483fec5678';
    await store.recordWrite(leadId, v[0], new Date(T));
    await store.recordAccess(leadId, new Date(T + 5000));

    const partitionKey = activityPartitionKey(leadId);
    expect(partitionKey).toMatch(/^[0-9a-f]{2}$/);
    const raw = await store.table.getEntity<Record<string, unknown>>(partitionKey, leadId);
    expect(raw).toMatchObject({
      partitionKey,
      rowKey: leadId,
      Deleted: false,
      Version: v[0],
      LastWriteMs: BigInt(T),
      LastAccessMs: BigInt(T + 5000),
      LastActivityMs: BigInt(T + 5000),
      Tier: 'hot',
    });
    expect(raw).not.toHaveProperty('DeletedVersion');
  });

  it('spreads leads over the buckets', () => {
    const buckets = new Set(Array.from({ length: 5000 }, (_, i) => activityPartitionKey(`lead-${i}`)));
    expect(buckets.size).toBe(ACTIVITY_BUCKETS);
  });

  it('a tombstone entity keeps only the deletion version', async () => {
    await store.recordWrite('lead-1', v[0], new Date(T));
    await store.remove('lead-1', v[1]);
    const raw = await store.table.getEntity<Record<string, unknown>>(
      activityPartitionKey('lead-1'),
      'lead-1',
    );
    const own = Object.keys(raw).filter(
      (k) => !['partitionKey', 'rowKey', 'etag', 'timestamp'].includes(k) && !k.startsWith('odata.'),
    );
    expect(own.sort()).toEqual(['Deleted', 'DeletedVersion']);
    expect(raw).toMatchObject({ Deleted: true, DeletedVersion: v[1] });
  });

  it('sweeps hundreds of twins in few partitions with transactions of up to 100', async () => {
    // 600 leads over 256 buckets: several share each partition, so the sweep batches them.
    const leads = Array.from({ length: 600 }, (_, i) => `sweep-${i}`);
    await inParallel(leads, 32, async (id) => {
      await store.recordWrite(id, v[0], new Date(T - 400 * DAY));
    });
    const submitted: number[] = [];
    const original = store.table.submitTransaction.bind(store.table);
    store.table.submitTransaction = (actions, options) => {
      submitted.push(actions.length);
      return original(actions, options);
    };
    expect(await store.sweep(new Date(T), DEFAULT_TIER_THRESHOLDS)).toBe(600);
    expect(await store.countByTier()).toEqual({ hot: 0, warm: 0, cold: 600 });
    expect(submitted.reduce((a, b) => a + b, 0)).toBe(600);
    expect(Math.max(...submitted)).toBeLessThanOrEqual(100);
    expect(submitted.length).toBeLessThan(600);
    expect(await store.sweep(new Date(T), DEFAULT_TIER_THRESHOLDS)).toBe(0);
  });

  it('a write between the scan and the transaction is not overwritten by the sweep', async () => {
    const leads = ['race-a', 'race-b', 'race-c'];
    for (const id of leads) await store.recordWrite(id, v[0], new Date(T - 400 * DAY));
    const original = store.table.submitTransaction.bind(store.table);
    let rewrites: Promise<void> | undefined;
    store.table.submitTransaction = async (actions, options) => {
      // Every lead is rewritten after the scan and before any transaction reaches the service: each
      // transaction then carries a stale ETag and must fail as a whole.
      rewrites ??= (async () => {
        for (const id of leads) await store.recordWrite(id, v[1], new Date(T));
      })();
      await rewrites;
      return original(actions, options);
    };
    expect(await store.sweep(new Date(T), DEFAULT_TIER_THRESHOLDS)).toBe(0);
    for (const id of leads) expect((await store.get(id))!.tier).toBe('hot');
  });

  it('measures write and sweep rates', async () => {
    const count = 1000;
    const leads = Array.from({ length: count }, (_, i) => `m-${i}`);
    const started = performance.now();
    await inParallel(leads, 32, async (id) => {
      await store.recordWrite(id, v[0], new Date(T - 40 * DAY));
    });
    const writeSeconds = (performance.now() - started) / 1000;
    const sweepStarted = performance.now();
    expect(await store.sweep(new Date(T), DEFAULT_TIER_THRESHOLDS)).toBe(count);
    const sweepSeconds = (performance.now() - sweepStarted) / 1000;
    console.log(
      `[measure] table activity recordWrite x${count} @32: ${(count / writeSeconds).toFixed(0)}/s; ` +
        `sweep re-tiering ${count}: ${(count / sweepSeconds).toFixed(0)} twins/s`,
    );
  });
});

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}
