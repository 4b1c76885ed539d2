import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { done, RunningSubscription } from '@twinstore/application';
import { EventType } from '@twinstore/contracts';
import { makeTempDir, pollUntil, sampleBusEvent, TempDir } from '@twinstore/testing';
import { WalSync } from '../wal-sync';
import { SqliteDeliveryStore } from './sqlite-delivery.store';
import { openSqliteEventBus, SqliteEventBus } from './sqlite-event-bus.adapter';

const ALL: readonly EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];

/** A promise whose resolution the test decides. */
function gate(): { promise: Promise<void>; open(): void; fail(e: Error): void } {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('SqliteEventBus group commit', () => {
  let tmp: TempDir;
  let bus: SqliteEventBus;
  const running: RunningSubscription[] = [];

  beforeEach(async () => {
    tmp = await makeTempDir('bus-group-commit');
    bus = openSqliteEventBus({
      file: join(tmp.dir, 'bus.db'),
      subscriptions: { all: ALL },
      pollIntervalMs: { min: 2, max: 20 },
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(running.splice(0).map((r) => r.close(500)));
    await bus.close();
    await tmp.cleanup();
  });

  const active = async () => (await bus.stats()).find((s) => s.subscription === 'all')!.active;

  it('commits N concurrent publishes in one transaction made durable by one WAL fsync', async () => {
    const append = vi.spyOn(SqliteDeliveryStore.prototype, 'append');
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    await Promise.all(Array.from({ length: 50 }, () => bus.publish([sampleBusEvent('twin.saved.v1')])));
    expect(append).toHaveBeenCalledTimes(1);
    expect(append.mock.calls[0][0]).toHaveLength(50);
    expect(sync).toHaveBeenCalledTimes(1);
    expect((sync.mock.contexts[0] as WalSync).fsyncs).toBe(1);
    expect(await active()).toBe(50);
  });

  it('bounds a transaction to 256 publish calls; the rest go in the next one', async () => {
    const append = vi.spyOn(SqliteDeliveryStore.prototype, 'append');
    await Promise.all(Array.from({ length: 300 }, () => bus.publish([sampleBusEvent('twin.saved.v1')])));
    expect(append.mock.calls.map(([messages]) => messages.length)).toEqual([256, 44]);
    expect(await active()).toBe(300);
  });

  it('resolves no caller before the fsync that covers its commit has completed', async () => {
    const fsync = gate();
    const original = WalSync.prototype.sync;
    vi.spyOn(WalSync.prototype, 'sync').mockImplementationOnce(function (this: WalSync) {
      return fsync.promise.then(() => original.call(this));
    });
    const settled: number[] = [];
    const calls = [0, 1, 2].map((i) =>
      bus.publish([sampleBusEvent('twin.saved.v1')]).then(() => settled.push(i)),
    );
    await turns();
    expect(await active()).toBe(3); // committed (readable) but not yet synced
    expect(settled).toEqual([]);
    fsync.open();
    await Promise.all(calls);
    expect(settled).toEqual([0, 1, 2]);
  });

  it('rejects every caller of a batch whose transaction fails, and commits nothing of it', async () => {
    // A trigger makes the third message of the batch fail inside the transaction, after the first two inserts.
    const other = new Database(join(tmp.dir, 'bus.db'));
    other.exec(`CREATE TRIGGER poison BEFORE INSERT ON bus_messages WHEN NEW.type = 'poison'
                BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END`);
    other.close();
    const results = await Promise.allSettled([
      bus.publish([sampleBusEvent('twin.saved.v1')]),
      bus.publishRaw('twin.saved.v1', '{}'),
      bus.publishRaw('poison', '{}'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain('poisoned batch');
    expect(await active()).toBe(0);
    // The next batch is not affected.
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    expect(await active()).toBe(1);
  });

  it('rejects the callers of a batch whose fsync fails', async () => {
    vi.spyOn(WalSync.prototype, 'sync').mockRejectedValueOnce(new Error('EIO: fsync failed'));
    const results = await Promise.allSettled([
      bus.publish([sampleBusEvent('twin.saved.v1')]),
      bus.publish([sampleBusEvent('twin.saved.v1')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(bus.publish([sampleBusEvent('twin.saved.v1')])).resolves.toBeUndefined();
  });

  it("keeps each caller's order across transactions, in storage, in answers and in delivery", async () => {
    const events = Array.from({ length: 300 }, () => sampleBusEvent('twin.saved.v1'));
    const answered: string[] = [];
    await Promise.all(events.map((e) => bus.publish([e]).then(() => answered.push(e.id))));
    expect(answered).toEqual(events.map((e) => e.id));
    const received: string[] = [];
    running.push(
      bus.subscribe(
        'all',
        async (event) => {
          received.push(event.id);
          return done();
        },
        { concurrency: 1, types: ALL },
      ),
    );
    await pollUntil(() => received.length === events.length, 'all delivered');
    expect(received).toEqual(events.map((e) => e.id));
  });

  it('close() commits and syncs the publishes it finds pending before it closes the file', async () => {
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    const publishes = [0, 1, 2].map(() => bus.publish([sampleBusEvent('twin.saved.v1')]));
    await bus.close(); // in the same turn: nothing was committed yet
    await expect(Promise.all(publishes)).resolves.toHaveLength(3);
    expect(sync).toHaveBeenCalledTimes(1);
    bus = openSqliteEventBus({ file: join(tmp.dir, 'bus.db'), subscriptions: { all: ALL } });
    expect(await active()).toBe(3);
  });
});
