/**
 * Throughput, latency and write amplification of the embedded bus. Not part of the test run; bundle and run it
 * with:
 *   npx esbuild libs/adapters/embedded/src/event-bus/bench/sqlite-event-bus.bench.ts --bundle --platform=node \
 *     --packages=external --tsconfig=tsconfig.base.json --outfile=tmp/bus-bench.js && node tmp/bus-bench.js [part]
 * where part is `all` (default), `basic` (publish, drain, latency), `batch` (subscribe against subscribeBatch)
 * or `writes` (bytes written per body byte, with storage variants).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { done, RunningSubscription } from '@twinstore/application';
import { createEvent, encodeEvent, EventType, TwinEvent } from '@twinstore/contracts';
import { openSqliteEventBus, SqliteEventBus } from '../sqlite-event-bus.adapter';

const TYPES: EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];
const MARKDOWN = '# Persona\n\n' + 'Enjoys sailing on weekends and reads about finance. '.repeat(200);

let n = 0;
function event(): TwinEvent {
  n++;
  const leadId = `bench-${n}`;
  return createEvent('twin.saved.v1', {
    leadId,
    version: `01KB${String(n).padStart(22, '0')}`,
    blobPath: `digital-twins/2026/01/01/${leadId}.md`,
    contentHash: 'a'.repeat(64),
    size: Buffer.byteLength(MARKDOWN),
    contentType: 'text/markdown',
    savedAt: new Date().toISOString(),
    metadata: { classification: 'hot', tags: ['bench'], extra: {} },
    markdown: MARKDOWN,
  });
}

function fresh(
  subscriptions: string[],
  storage: { pageSize?: number; walAutocheckpointPages?: number } = {},
): { bus: SqliteEventBus; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'twinstore-bus-bench-'));
  const file = join(dir, 'bus.db');
  if (storage.pageSize !== undefined) {
    // The page size of a file is fixed once it is in WAL mode: set it on an empty file first.
    const db = new Database(file);
    db.pragma(`page_size = ${storage.pageSize}`);
    db.exec('VACUUM');
    db.close();
  }
  const bus = openSqliteEventBus({
    file,
    subscriptions: Object.fromEntries(subscriptions.map((s) => [s, TYPES])),
    walAutocheckpointPages: storage.walAutocheckpointPages,
  });
  return { bus, dir };
}

async function finish(b: { bus: SqliteEventBus; dir: string }): Promise<void> {
  await b.bus.close();
  rmSync(b.dir, { recursive: true, force: true });
}

const rate = (count: number, ms: number): string =>
  `${Math.round((count / ms) * 1000).toLocaleString('en')} events/s`;

async function publishSingles(count: number): Promise<void> {
  const b = fresh(['s1']);
  const events = Array.from({ length: count }, event);
  const t = performance.now();
  for (const e of events) await b.bus.publish([e]);
  console.log(`publish, one event per call, sequential (${count}): ${rate(count, performance.now() - t)}`);
  await finish(b);
}

async function publishConcurrentSingles(count: number, inFlight: number): Promise<void> {
  const b = fresh(['s1']);
  const events = Array.from({ length: count }, event);
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < events.length) await b.bus.publish([events[next++]]);
    }),
  );
  console.log(
    `publish, one event per call, ${inFlight} callers (${count}): ${rate(count, performance.now() - t)}`,
  );
  await finish(b);
}

async function publishBatches(count: number, size: number, subscriptions: number): Promise<void> {
  const b = fresh(Array.from({ length: subscriptions }, (_, i) => `s${i}`));
  const events = Array.from({ length: count }, event);
  const t = performance.now();
  for (let i = 0; i < count; i += size) await b.bus.publish(events.slice(i, i + size));
  console.log(
    `publish, batches of ${size}, ${subscriptions} subscription(s) (${count}): ${rate(count, performance.now() - t)}`,
  );
  await finish(b);
}

async function endToEnd(count: number, subscriptions: number, concurrency: number): Promise<void> {
  const b = fresh(Array.from({ length: subscriptions }, (_, i) => `s${i}`));
  const events = Array.from({ length: count }, event);
  let handled = 0;
  let allHandled!: () => void;
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  const t = performance.now();
  const running = Array.from({ length: subscriptions }, (_, i) =>
    b.bus.subscribe(
      `s${i}`,
      async () => {
        if (++handled === count * subscriptions) allHandled();
        return done();
      },
      { concurrency, types: TYPES },
    ),
  );
  for (let i = 0; i < count; i += 100) await b.bus.publish(events.slice(i, i + 100));
  const published = performance.now();
  await finished;
  const ms = performance.now() - t;
  console.log(
    `end to end, ${subscriptions} subscription(s), concurrency ${concurrency}, publishing while consuming (${count}): ` +
      `${rate(count, ms)} published+delivered (${rate(count * subscriptions, ms)} deliveries; publishing took ${Math.round(published - t)} ms)`,
  );
  await Promise.all(running.map((r) => r.close()));
  await finish(b);
}

async function drainBacklog(count: number, subscriptions: number, concurrency: number): Promise<void> {
  const b = fresh(Array.from({ length: subscriptions }, (_, i) => `s${i}`));
  const events = Array.from({ length: count }, event);
  for (let i = 0; i < count; i += 100) await b.bus.publish(events.slice(i, i + 100));
  let handled = 0;
  let allHandled!: () => void;
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  const t = performance.now();
  const running = Array.from({ length: subscriptions }, (_, i) =>
    b.bus.subscribe(
      `s${i}`,
      async () => {
        if (++handled === count * subscriptions) allHandled();
        return done();
      },
      { concurrency, types: TYPES },
    ),
  );
  await finished;
  const ms = performance.now() - t;
  console.log(
    `drain a backlog, ${subscriptions} subscription(s), concurrency ${concurrency} (${count}): ${rate(count * subscriptions, ms)} deliveries`,
  );
  await Promise.all(running.map((r) => r.close()));
  await finish(b);
}

async function latency(samples: number, sameInstance: boolean): Promise<void> {
  const b = fresh(['s1']);
  const publisher = sameInstance
    ? b.bus
    : openSqliteEventBus({ file: join(b.dir, 'bus.db'), subscriptions: { s1: TYPES } });
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const running = b.bus.subscribe(
    's1',
    async (e) => {
      latencies.push(performance.now() - sentAt.get(e.id)!);
      return done();
    },
    { concurrency: 4, types: TYPES },
  );
  for (let i = 0; i < samples; i++) {
    const e = event();
    sentAt.set(e.id, performance.now());
    await publisher.publish([e]);
    await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 25));
  }
  while (latencies.length < samples) await new Promise((resolve) => setTimeout(resolve, 10));
  latencies.sort((x, y) => x - y);
  const p = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  console.log(
    `publish->handler latency, ${sameInstance ? 'same bus instance (woken on publish)' : 'other instance/process (polling 20..250 ms)'}, ` +
      `~30 events/s (${samples}): p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms`,
  );
  await running.close();
  if (!sameInstance) await publisher.close();
  await finish(b);
}

type Consumer = 'subscribe' | 'subscribeBatch';

/** Starts one consumer per subscription that counts handled deliveries; resolves when all `expected` are in. */
function consumeAll(
  bus: SqliteEventBus,
  subscriptions: number,
  expected: number,
  consumer: Consumer,
): { running: RunningSubscription[]; finished: Promise<void> } {
  let handled = 0;
  let allHandled!: () => void;
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  const count = (n: number): void => {
    handled += n;
    if (handled === expected) allHandled();
  };
  const running = Array.from({ length: subscriptions }, (_, i) =>
    consumer === 'subscribe'
      ? bus.subscribe(
          `s${i}`,
          async () => {
            count(1);
            return done();
          },
          { concurrency: 16, types: TYPES },
        )
      : bus.subscribeBatch(
          `s${i}`,
          async (deliveries) => {
            count(deliveries.length);
            return deliveries.map(() => done());
          },
          { concurrency: 2, maxBatchSize: 100, maxBatchWaitMs: 0, types: TYPES },
        ),
  );
  return { running, finished };
}

/** CPU time of this process per 1,000 deliveries: steadier than rates on a machine shared with other loads. */
function cpuPerThousand(since: NodeJS.CpuUsage, deliveries: number): string {
  const used = process.cpuUsage(since);
  return `${(((used.user + used.system) / 1000 / deliveries) * 1000).toFixed(0)} ms CPU per 1,000 deliveries`;
}

const consumerLabel = (consumer: Consumer): string =>
  consumer === 'subscribe' ? 'subscribe (concurrency 16)' : 'subscribeBatch (100 per call, concurrency 2)';

/** Drains a published backlog, then publishes while consuming: deliveries per second for one consumer kind. */
async function compareConsumers(count: number, subscriptions: number, consumer: Consumer): Promise<void> {
  const expected = count * subscriptions;
  {
    const b = fresh(Array.from({ length: subscriptions }, (_, i) => `s${i}`));
    for (let i = 0; i < count; i += 100) await b.bus.publish(Array.from({ length: 100 }, event));
    const t = performance.now();
    const cpu = process.cpuUsage();
    const c = consumeAll(b.bus, subscriptions, expected, consumer);
    await c.finished;
    const ms = performance.now() - t;
    console.log(
      `${consumerLabel(consumer)}, drain a backlog of ${count} x ${subscriptions} subscriptions: ${rate(expected, ms)} deliveries; ` +
        cpuPerThousand(cpu, expected),
    );
    await Promise.all(c.running.map((r) => r.close()));
    await finish(b);
  }
  {
    const b = fresh(Array.from({ length: subscriptions }, (_, i) => `s${i}`));
    const t = performance.now();
    const cpu = process.cpuUsage();
    const c = consumeAll(b.bus, subscriptions, expected, consumer);
    for (let i = 0; i < count; i += 100) await b.bus.publish(Array.from({ length: 100 }, event));
    await c.finished;
    const ms = performance.now() - t;
    console.log(
      `${consumerLabel(consumer)}, publish (batches of 100) while consuming, ${count} x ${subscriptions} subscriptions: ` +
        `${rate(count, ms)} published+delivered (${rate(expected, ms)} deliveries); ${cpuPerThousand(cpu, expected)} (publishing included)`,
    );
    await Promise.all(c.running.map((r) => r.close()));
    await finish(b);
  }
}

/** Bytes this process has caused to be written to storage (dirtied pages, counted once until written back). */
function writtenBytes(): number {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)![1]);
  return field('write_bytes') - field('cancelled_write_bytes');
}

interface StorageVariant {
  label: string;
  pageSize?: number;
  walAutocheckpointPages?: number;
}

/**
 * Bytes written to storage per body byte for a publish-and-consume cycle with the bodies inline: everything
 * from the first publish to the close of the file (its final checkpoint) included. `live`: consumers keep up
 * while publishing; `backlog`: everything is published first, then drained.
 */
async function writeAmplification(
  count: number,
  subscriptions: number,
  variant: StorageVariant,
  flow: 'live' | 'backlog',
): Promise<void> {
  const b = fresh(
    Array.from({ length: subscriptions }, (_, i) => `s${i}`),
    variant,
  );
  const events = Array.from({ length: count }, event);
  const bodyBytes = events.reduce((sum, e) => sum + Buffer.byteLength(encodeEvent(e)), 0);
  const before = writtenBytes();
  const t = performance.now();
  const publishAll = async (): Promise<void> => {
    for (let i = 0; i < count; i += 100) await b.bus.publish(events.slice(i, i + 100));
  };
  if (flow === 'backlog') await publishAll();
  const c = consumeAll(b.bus, subscriptions, count * subscriptions, 'subscribeBatch');
  if (flow === 'live') await publishAll();
  await c.finished;
  await Promise.all(c.running.map((r) => r.close()));
  await b.bus.close();
  const written = writtenBytes() - before;
  const ms = performance.now() - t;
  console.log(
    `writes, ${variant.label}, ${count} bodies of ~${Math.round(bodyBytes / count)} B x ${subscriptions} subscriptions ` +
      `(${flow === 'live' ? 'publish while consuming' : 'publish, then drain'}, subscribeBatch): ${(written / 2 ** 20).toFixed(0)} MiB written = ` +
      `${(written / bodyBytes).toFixed(2)} bytes per body byte; ${rate(count, ms)}`,
  );
  rmSync(b.dir, { recursive: true, force: true });
}

async function basic(): Promise<void> {
  await publishSingles(2_000);
  await publishConcurrentSingles(10_000, 64);
  await publishBatches(10_000, 100, 1);
  await publishBatches(10_000, 100, 4);
  await drainBacklog(10_000, 1, 16);
  await drainBacklog(10_000, 4, 16);
  await endToEnd(10_000, 1, 16);
  await endToEnd(10_000, 4, 16);
  await latency(200, true);
  await latency(200, false);
}

async function batch(): Promise<void> {
  await compareConsumers(20_000, 4, 'subscribe');
  await compareConsumers(20_000, 4, 'subscribeBatch');
}

async function writes(): Promise<void> {
  const variants: StorageVariant[] = [
    { label: 'defaults (4 KiB pages, wal_autocheckpoint 1000)' },
    { label: 'wal_autocheckpoint 10000', walAutocheckpointPages: 10_000 },
    { label: 'wal_autocheckpoint 100', walAutocheckpointPages: 100 },
    { label: '16 KiB pages', pageSize: 16_384 },
    { label: '64 KiB pages', pageSize: 65_536 },
  ];
  for (const flow of ['live', 'backlog'] as const) {
    for (const variant of variants) await writeAmplification(5_000, 4, variant, flow);
  }
}

async function main(): Promise<void> {
  console.log(`body ~${Buffer.byteLength(JSON.stringify(event()))} bytes; node ${process.version}`);
  const part = process.argv[2] ?? 'all';
  if (part === 'all' || part === 'basic') await basic();
  if (part === 'all' || part === 'batch') await batch();
  if (part === 'all' || part === 'writes') await writes();
}

void main();
