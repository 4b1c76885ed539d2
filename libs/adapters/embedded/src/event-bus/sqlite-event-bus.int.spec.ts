import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deadLetter, done, EventHandler, RunningSubscription } from '@twinstore/application';
import { encodeEvent, EventType, TwinEvent } from '@twinstore/contracts';
import { describeEventBusContract, pollUntil, sampleBusEvent } from '@twinstore/testing';
import { openSqlite } from '../sqlite';
import { SCHEMA_VALIDATION_FAILED } from './invalid-body-reason';
import { LOCK_EXPIRED, MAX_DELIVERY_COUNT_EXCEEDED, SqliteDeliveryStore } from './sqlite-delivery.store';
import { openSqliteEventBus, SqliteEventBus, SqliteEventBusOptions } from './sqlite-event-bus.adapter';

const ALL: readonly EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];
const FAST = { pollIntervalMs: { min: 2, max: 20 }, retryBackoff: { baseMs: 2, maxMs: 10 } };

describeEventBusContract(
  'SqliteEventBus',
  async (options) => {
    const dir = await mkdtemp(join(tmpdir(), 'twinstore-bus-contract-'));
    const bus = openSqliteEventBus({
      file: join(dir, 'bus.db'),
      pollIntervalMs: { min: 2, max: 20 },
      ...options,
    });
    return {
      publisher: bus,
      subscriber: bus,
      admin: bus,
      cleanup: async () => {
        await bus.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { batchesInPublishOrder: true },
);

describe('SqliteEventBus (embedded specifics)', () => {
  let dir: string;
  let file: string;
  const opened: SqliteEventBus[] = [];
  const running: RunningSubscription[] = [];
  const extraDbs: Database.Database[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinstore-bus-'));
    file = join(dir, 'bus.db');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(running.splice(0).map((r) => r.close(500)));
    await Promise.all(opened.splice(0).map((b) => b.close()));
    for (const db of extraDbs.splice(0)) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  function open(options: Partial<SqliteEventBusOptions> = {}): SqliteEventBus {
    const bus = openSqliteEventBus({ file, subscriptions: { all: ALL }, ...FAST, ...options });
    opened.push(bus);
    return bus;
  }

  function subscribe(bus: SqliteEventBus, handler: EventHandler, concurrency = 4, subscription = 'all') {
    const r = bus.subscribe(subscription, handler, { concurrency, types: ALL });
    running.push(r);
    return r;
  }

  /** A second connection to the same file, as another process would have. */
  function sideStore(maxDeliveryCount = 10): SqliteDeliveryStore {
    const db = openSqlite(file, { synchronous: 'full' });
    extraDbs.push(db);
    return new SqliteDeliveryStore(db, maxDeliveryCount);
  }

  function count(sql: string): number {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare(sql).pluck().get() as number;
    } finally {
      db.close();
    }
  }

  async function active(bus: SqliteEventBus, subscription = 'all'): Promise<number> {
    return (await bus.stats()).find((s) => s.subscription === subscription)!.active;
  }

  async function deadLettered(bus: SqliteEventBus, subscription = 'all'): Promise<number> {
    return (await bus.stats()).find((s) => s.subscription === subscription)!.deadLettered;
  }

  it('keeps published events across close and reopen (durable once publish resolves)', async () => {
    const events = [sampleBusEvent('twin.saved.v1'), sampleBusEvent('twin.deleted.v1')];
    const first = openSqliteEventBus({ file, subscriptions: { all: ALL } });
    await first.publish(events);
    await first.close();

    const bus = open();
    const seen: TwinEvent[] = [];
    subscribe(bus, async (e) => {
      seen.push(e);
      return done();
    });
    await pollUntil(async () => (await active(bus)) === 0 && seen.length === 2, 'both events');
    expect(seen.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
  });

  it('stores a body once and collects it when the last subscription completes', async () => {
    const bus = open({
      subscriptions: { all: ALL, saves: ['twin.saved.v1'], accesses: ['twin.accessed.v1'] },
    });
    await bus.publish([sampleBusEvent('twin.saved.v1'), sampleBusEvent('twin.deleted.v1')]);
    expect(count('SELECT COUNT(*) FROM bus_messages')).toBe(2);
    expect(count('SELECT COUNT(*) FROM bus_deliveries')).toBe(3);

    subscribe(bus, async () => done(), 2, 'all');
    await pollUntil(async () => (await active(bus, 'all')) === 0, 'all to drain');
    expect(count('SELECT COUNT(*) FROM bus_messages')).toBe(1);

    const saves = bus.subscribe('saves', async () => done(), { concurrency: 1, types: ['twin.saved.v1'] });
    running.push(saves);
    await pollUntil(async () => (await active(bus, 'saves')) === 0, 'saves to drain');
    expect(count('SELECT COUNT(*) FROM bus_messages')).toBe(0);
  });

  it('stores nothing for an event type no subscription receives', async () => {
    const bus = open({ subscriptions: { saves: ['twin.saved.v1'] } });
    await bus.publish([sampleBusEvent('twin.accessed.v1')]);
    expect(count('SELECT COUNT(*) FROM bus_messages')).toBe(0);
  });

  it('dead-letters a schema-invalid body after 10 deliveries without handing it over or holding up others', async () => {
    const bus = open({ maxDeliveryCount: 10 });
    const valid = sampleBusEvent('twin.saved.v1');
    const invalid = JSON.parse(encodeEvent(valid)) as { id: string; data: Record<string, unknown> };
    invalid.id = 'poison-1';
    invalid.data.metadata = { classification: 'hot', tags: [], extra: {}, income: -987654 };
    invalid.data.size = 'Ada Lovelace';
    await bus.publishRaw('twin.saved.v1', JSON.stringify(invalid), 'poison-1');
    await bus.publishRaw('twin.saved.v1', 'not json at all', 'poison-2');
    const good = Array.from({ length: 50 }, () => sampleBusEvent('twin.accessed.v1'));
    for (const e of good) await bus.publish([e]);
    const handled: string[] = [];
    subscribe(bus, async (_e, ctx) => {
      handled.push(ctx.messageId);
      return done();
    });
    await pollUntil(
      async () => (await deadLettered(bus)) === 2 && (await active(bus)) === 0,
      'the dead letters',
    );

    expect(handled.sort()).toEqual(good.map((e) => e.id).sort());
    const letters = await bus.listDeadLetters('all');
    const poison1 = letters.find((l) => l.messageId === 'poison-1')!;
    expect(poison1).toMatchObject({ deliveryCount: 10, reason: MAX_DELIVERY_COUNT_EXCEEDED });
    expect(poison1.description).toMatch(new RegExp(`^${SCHEMA_VALIDATION_FAILED}: `));
    expect(poison1.description).toContain('data.size');
    expect(poison1.description).toContain('data.metadata.income');
    expect(poison1.description).not.toMatch(/987654|Ada/);
    expect(letters.find((l) => l.messageId === 'poison-2')!.description).toBe(
      `${SCHEMA_VALIDATION_FAILED}: (not JSON)`,
    );
  });

  it('keeps a body that does not decode out of its batch: the others of the batch are handled once', async () => {
    const bus = open({ maxDeliveryCount: 10 });
    const before = sampleBusEvent('twin.accessed.v1');
    const after = sampleBusEvent('twin.saved.v1');
    await bus.publish([before]);
    await bus.publishRaw('twin.saved.v1', 'not json at all', 'poison-1');
    await bus.publish([after]);
    const batches: string[][] = [];
    const r = bus.subscribeBatch(
      'all',
      async (deliveries) => {
        batches.push(deliveries.map((d) => d.context.messageId));
        return deliveries.map(() => done());
      },
      { concurrency: 1, types: ALL, maxBatchSize: 10, maxBatchWaitMs: 0 },
    );
    running.push(r);
    await pollUntil(
      async () => (await deadLettered(bus)) === 1 && (await active(bus)) === 0,
      'the dead letter',
    );

    expect(batches[0]).toEqual([before.id, after.id]);
    expect(batches.flat().sort()).toEqual([before.id, after.id].sort());
    const [letter] = await bus.listDeadLetters('all');
    expect(letter).toMatchObject({
      messageId: 'poison-1',
      deliveryCount: 10,
      reason: MAX_DELIVERY_COUNT_EXCEEDED,
      description: `${SCHEMA_VALIDATION_FAILED}: (not JSON)`,
    });
  });

  it('refuses batch options out of range', () => {
    const bus = open();
    const handler = async () => [];
    const base = { concurrency: 1, types: ALL, maxBatchSize: 10, maxBatchWaitMs: 0 };
    expect(() => bus.subscribeBatch('all', handler, { ...base, maxBatchSize: 0 })).toThrow(/maxBatchSize/);
    expect(() => bus.subscribeBatch('all', handler, { ...base, maxBatchWaitMs: -1 })).toThrow(
      /maxBatchWaitMs/,
    );
    expect(() => bus.subscribeBatch('all', handler, { ...base, concurrency: 1.5 })).toThrow(/concurrency/);
  });

  it('redelivers a message whose consumer died holding the lock, once the lock expires', async () => {
    const bus = open({ lockDurationMs: 300 });
    const event = sampleBusEvent('twin.saved.v1');
    await bus.publish([event]);
    const dead = sideStore();
    const claimedAt = Date.now();
    const [claimed] = dead.claim('all', 1, claimedAt, 300);
    expect(claimed.deliveryCount).toBe(1);

    const calls: Array<{ at: number; deliveryCount: number }> = [];
    subscribe(bus, async (_e, ctx) => {
      calls.push({ at: Date.now(), deliveryCount: ctx.deliveryCount });
      return done();
    });
    await pollUntil(async () => (await active(bus)) === 0, 'the redelivery to complete');
    expect(calls).toHaveLength(1);
    expect(calls[0].deliveryCount).toBe(2);
    expect(calls[0].at).toBeGreaterThanOrEqual(claimedAt + 300);
  });

  it('does not let a stale lock token settle or renew a delivery that was taken over', async () => {
    const bus = open();
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    const store = sideStore();
    const [stale] = store.claim('all', 1, Date.now(), 20);
    await pollUntil(() => Date.now() > stale.lockedUntil, 'the first lock to expire');
    const [current] = store.claim('all', 1, Date.now(), 60_000);
    expect(current.seq).toBe(stale.seq);
    expect(current.deliveryCount).toBe(2);

    const staleRef = { seq: stale.seq, lockToken: stale.lockToken };
    const now = Date.now();
    expect(store.settle('all', [{ kind: 'complete', ...staleRef }], now)).toEqual([false]);
    expect(
      store.settle('all', [{ kind: 'abandon', reason: 'x', availableAt: now, ...staleRef }], now),
    ).toEqual([false]);
    expect(store.settle('all', [{ kind: 'dead-letter', reason: 'x', ...staleRef }], now)).toEqual([false]);
    expect(store.renew('all', [staleRef], now + 60_000)).toEqual([false]);
    expect(store.release('all', [staleRef], now, false)).toEqual([false]);
    expect(await active(bus)).toBe(1);
    expect(await deadLettered(bus)).toBe(0);

    expect(
      store.settle('all', [{ kind: 'complete', seq: current.seq, lockToken: current.lockToken }], now),
    ).toEqual([true]);
    expect(await active(bus)).toBe(0);
  });

  it('renews the lock of a slow handler so no other consumer gets the message meanwhile', async () => {
    const a = open({ lockDurationMs: 150 });
    const b = open({ lockDurationMs: 150 });
    const event = sampleBusEvent('twin.saved.v1');
    const slowCalls: number[] = [];
    subscribe(a, async (_e, ctx) => {
      slowCalls.push(ctx.deliveryCount);
      await new Promise((resolve) => setTimeout(resolve, 600));
      return done();
    });
    await a.publish([event]);
    await pollUntil(() => slowCalls.length === 1, 'the slow handler to start');
    const otherCalls: string[] = [];
    subscribe(b, async (_e, ctx) => {
      otherCalls.push(ctx.messageId);
      return done();
    });
    await pollUntil(async () => (await active(a)) === 0, 'the slow handler to complete');

    expect(slowCalls).toEqual([1]);
    expect(otherCalls).toEqual([]);
  });

  it('dead-letters, instead of delivering again, a message whose last allowed delivery died', async () => {
    const bus = open({ maxDeliveryCount: 2 });
    await bus.publish([sampleBusEvent('twin.deleted.v1')]);
    const store = sideStore(2);
    for (let i = 0; i < 2; i++) {
      const [c] = store.claim('all', 1, Date.now(), 10);
      await pollUntil(() => Date.now() > c.lockedUntil, 'the lock to expire');
    }
    const calls: number[] = [];
    subscribe(bus, async (_e, ctx) => {
      calls.push(ctx.deliveryCount);
      return done();
    });
    await pollUntil(async () => (await deadLettered(bus)) === 1, 'the dead letter');

    expect(calls).toEqual([]);
    const [letter] = await bus.listDeadLetters('all');
    expect(letter).toMatchObject({
      reason: MAX_DELIVERY_COUNT_EXCEEDED,
      description: LOCK_EXPIRED,
      deliveryCount: 2,
    });
  });

  it('close gives back claimed messages it never started without counting a delivery', async () => {
    const bus = open();
    await bus.publish(Array.from({ length: 3 }, () => sampleBusEvent('twin.accessed.v1')));
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const first = bus.subscribe(
      'all',
      async () => {
        started++;
        await blocked;
        return done();
      },
      { concurrency: 1, types: ALL },
    );
    await pollUntil(() => started === 1, 'the first handler');
    const closing = first.close(5_000);
    release();
    await closing;
    expect(started).toBe(1);
    expect(await active(bus)).toBe(2);

    const counts: number[] = [];
    subscribe(bus, async (_e, ctx) => {
      counts.push(ctx.deliveryCount);
      return done();
    });
    await pollUntil(async () => (await active(bus)) === 0, 'the rest');
    expect(counts).toEqual([1, 1]);
  });

  it('lets two bus instances on one file share a subscription, each message handled once', async () => {
    const one = open();
    const two = open();
    const events = Array.from({ length: 300 }, (_, i) =>
      sampleBusEvent(i % 3 ? 'twin.saved.v1' : 'twin.accessed.v1'),
    );
    const handledBy = new Map<string, string[]>();
    const handler =
      (who: string): EventHandler =>
      async (_e, ctx) => {
        handledBy.set(ctx.messageId, [...(handledBy.get(ctx.messageId) ?? []), who]);
        await new Promise((resolve) => setTimeout(resolve, 1));
        return done();
      };
    subscribe(one, handler('one'));
    subscribe(two, handler('two'));
    for (let i = 0; i < events.length; i += 10) await (i % 20 ? one : two).publish(events.slice(i, i + 10));
    await pollUntil(
      async () => (await active(one)) === 0 && handledBy.size === events.length,
      'every message',
    );

    expect([...handledBy.values()].filter((w) => w.length !== 1)).toEqual([]);
    const byOne = [...handledBy.values()].filter((w) => w[0] === 'one').length;
    expect(byOne).toBeGreaterThan(0);
    expect(byOne).toBeLessThan(events.length);
  });

  it('redrives chosen dead letters with a fresh delivery count and purges the rest', async () => {
    const bus = open();
    const events = Array.from({ length: 3 }, () => sampleBusEvent('twin.saved.v1'));
    await bus.publish(events);
    const rejecting = subscribe(bus, async () => deadLetter('Rejected'));
    await pollUntil(async () => (await deadLettered(bus)) === 3, 'three dead letters');
    await rejecting.close();

    const redelivered: Array<[string, number]> = [];
    subscribe(bus, async (_e, ctx) => {
      redelivered.push([ctx.messageId, ctx.deliveryCount]);
      return done();
    });
    expect(await bus.redrive('all', [events[1].id])).toBe(1);
    await pollUntil(() => redelivered.length === 1, 'the redriven message');
    expect(redelivered).toEqual([[events[1].id, 1]]);

    expect(await bus.purgeDeadLetters('all')).toBe(2);
    await pollUntil(async () => (await active(bus)) === 0, 'the redriven message to complete');
    expect(await bus.stats()).toEqual([{ subscription: 'all', active: 0, deadLettered: 0 }]);
    expect(count('SELECT COUNT(*) FROM bus_messages')).toBe(0);
  });

  it('refuses a subscriber for an unknown subscription or with other types than registered', () => {
    const bus = open();
    expect(() => bus.subscribe('nobody', async () => done(), { concurrency: 1, types: ALL })).toThrow(
      /not registered/,
    );
    expect(() =>
      bus.subscribe('all', async () => done(), { concurrency: 1, types: ['twin.saved.v1'] }),
    ).toThrow(/receives/);
  });

  it('wakes its own subscribers on publish instead of waiting for the next poll', async () => {
    const bus = open({ pollIntervalMs: { min: 2_000, max: 2_000 } });
    const handled: number[] = [];
    subscribe(bus, async () => {
      handled.push(Date.now());
      return done();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const publishedAt = Date.now();
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    await pollUntil(() => handled.length === 1, 'the delivery', 1_500);
    expect(handled[0] - publishedAt).toBeLessThan(1_000);
  });

  it('backs off idle polling and still picks up messages published by another process', async () => {
    const polls = vi.spyOn(SqliteDeliveryStore.prototype, 'nextAvailableAt');
    const bus = open({ pollIntervalMs: { min: 20, max: 250 } });
    const handled: string[] = [];
    subscribe(bus, async (_e, ctx) => {
      handled.push(ctx.messageId);
      return done();
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // 20+40+80+160+250+250+250 ms covers the second: a hot loop would poll thousands of times.
    expect(polls.mock.calls.length).toBeLessThan(15);

    const other = openSqliteEventBus({ file, subscriptions: { all: ALL } });
    const event = sampleBusEvent('twin.saved.v1');
    await other.publish([event]);
    await other.close();
    await pollUntil(() => handled.length === 1, 'the cross-process delivery', 2_000);
    expect(handled).toEqual([event.id]);
  });
});
