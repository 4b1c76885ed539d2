/**
 * Throughput and latency of the embedded bus. Not part of the test run; bundle and run it with:
 *   npx esbuild libs/adapters/embedded/src/event-bus/bench/sqlite-event-bus.bench.ts --bundle --platform=node \
 *     --packages=external --tsconfig=tsconfig.base.json --outfile=tmp/bus-bench.js && node tmp/bus-bench.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { done } from '@twinstore/application';
import { createEvent, EventType, TwinEvent } from '@twinstore/contracts';
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

function fresh(subscriptions: string[]): { bus: SqliteEventBus; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'twinstore-bus-bench-'));
  const bus = openSqliteEventBus({
    file: join(dir, 'bus.db'),
    subscriptions: Object.fromEntries(subscriptions.map((s) => [s, TYPES])),
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

async function main(): Promise<void> {
  console.log(`body ~${Buffer.byteLength(JSON.stringify(event()))} bytes; node ${process.version}`);
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

void main();
