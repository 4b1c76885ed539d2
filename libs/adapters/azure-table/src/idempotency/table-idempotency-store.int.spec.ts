import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StoredResponse } from '@twinstore/application';
import { describeIdempotencyStoreContract, startAzurite, TestAzurite } from '@twinstore/testing';
import {
  createTableIdempotencyStore,
  entityKeys,
  idempotencyTableName,
  TableIdempotencyStore,
  TableIdempotencyStoreOptions,
} from './table-idempotency-store.adapter';

let azurite: TestAzurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A table per test (names: letters and digits only). */
async function openStore(
  table = `idem${randomBytes(6).toString('hex')}`,
  options: Partial<TableIdempotencyStoreOptions> = {},
): Promise<TableIdempotencyStore> {
  const store = createTableIdempotencyStore({
    connectionString: azurite.connectionString,
    table,
    ...options,
  });
  await store.ensureTable();
  return store;
}

describeIdempotencyStoreContract('Azure Table (Azurite)', async (options) => {
  const table = `idem${randomBytes(6).toString('hex')}`;
  const subject = await openStore(table, options);
  return {
    subject,
    sibling: () => openStore(table, options),
    cleanup: async () => {
      await subject.table.deleteTable();
      await subject.close();
    },
  };
});

describe('TableIdempotencyStore on Azurite', () => {
  let store: TableIdempotencyStore;

  beforeEach(async () => {
    store = await openStore();
  });
  afterEach(async () => {
    await store.table.deleteTable();
    await store.close();
  });

  it('keys records by a hash of scope and key, so any printable key is a valid RowKey', async () => {
    const key = 'a/b#c?d\\e %41';
    const begun = await store.begin(key, 'PUT /v1/twins/x', 'h');
    expect(begun.state).toBe('new');
    const { partitionKey, rowKey } = entityKeys('PUT /v1/twins/x', key);
    expect(partitionKey).toMatch(/^[0-9a-f]{2}$/);
    expect(rowKey).toMatch(/^[0-9a-f]{64}$/);
    const raw = await store.table.getEntity<Record<string, unknown>>(partitionKey, rowKey);
    expect(raw).toMatchObject({ Scope: 'PUT /v1/twins/x', Key: key, RequestHash: 'h', State: 'in-flight' });
  });

  it('stores an answer larger than one property may hold (a full batch) in chunks', async () => {
    const results = Array.from({ length: 1000 }, (_, index) => ({
      index,
      leadId: `lead-${index}-${'x'.repeat(60)}`,
      status: 202,
      version: '01KABCDEFGHJKMNPQRSTVWXYZ0',
    }));
    const response: StoredResponse = { status: 200, headers: {}, body: { results } };
    expect(JSON.stringify(response).length).toBeGreaterThan(64 * 1024);
    const begun = await store.begin('big', 'POST /v1/twins:batch', 'h');
    if (begun.state !== 'new') throw new Error(begun.state);
    expect(await store.complete('big', 'POST /v1/twins:batch', begun.claim, response)).toBe(true);
    expect(await store.begin('big', 'POST /v1/twins:batch', 'h')).toEqual({ state: 'done', response });
  });

  it('purges expired records in the background as keys are used', async () => {
    let now = Date.UTC(2030, 0, 1);
    const purging = await openStore(undefined, { now: () => now, ttlMs: 1000, purgeIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) await purging.begin(`old-${i}`, 's', 'h');
    now += 61_000;
    await purging.begin('fresh', 's', 'h');
    await purging.close(); // waits for the background purge
    const left: string[] = [];
    for await (const e of purging.table.listEntities<{ Key: string }>()) left.push(e.Key);
    expect(left).toEqual(['fresh']);
    await purging.table.deleteTable();
  });

  it('a renewal that loses the race to a takeover (412 on its conditional merge) reports the claim lost', async () => {
    let now = Date.UTC(2030, 0, 1);
    const table = `idem${randomBytes(6).toString('hex')}`;
    const holder = await openStore(table, { now: () => now, leaseMs: 1000 });
    const retry = await openStore(table, { now: () => now, leaseMs: 1000 });
    try {
      const held = await holder.begin('k', 'PUT /v1/twins/x', 'h');
      if (held.state !== 'new') throw new Error(held.state);
      now += 1000; // the holder stalled for a whole lease
      // Between the holder's read (its claim, lapsed but not yet taken over) and its merge, a retry takes over.
      const merge = holder.table.updateEntity.bind(holder.table);
      let taken: Awaited<ReturnType<TableIdempotencyStore['begin']>> | undefined;
      holder.table.updateEntity = (async (...args: Parameters<typeof merge>) => {
        taken = await retry.begin('k', 'PUT /v1/twins/x', 'h');
        return merge(...args);
      }) as typeof merge;
      expect(await holder.renew('k', 'PUT /v1/twins/x', held.claim)).toBe(false);
      expect(taken).toEqual({ state: 'new', claim: expect.any(String) });
      expect(await retry.renew('k', 'PUT /v1/twins/x', (taken as { claim: string }).claim)).toBe(true);
      expect(await retry.begin('k', 'PUT /v1/twins/x', 'h')).toEqual({ state: 'in-flight' });
    } finally {
      await holder.table.deleteTable();
      await Promise.all([holder.close(), retry.close()]);
    }
  });

  it('names its table after the activity table, within 63 characters', () => {
    expect(idempotencyTableName('twinactivity')).toBe('twinactivityidem');
    const long = 'a'.repeat(63);
    expect(idempotencyTableName(long)).toHaveLength(63);
    expect(idempotencyTableName(long)).not.toBe(long);
  });
});
