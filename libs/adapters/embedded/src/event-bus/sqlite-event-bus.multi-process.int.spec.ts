import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { done, RunningSubscription } from '@twinstore/application';
import { EventType } from '@twinstore/contracts';
import { pollUntil, sampleBusEvent } from '@twinstore/testing';
import type { BusConsumerChildConfig } from './fixtures/bus-consumer.child';
import { openSqliteEventBus, SqliteEventBus } from './sqlite-event-bus.adapter';

const ROOT = resolve(__dirname, '..', '..', '..', '..', '..');
const ALL: EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];

interface Child {
  process: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

describe('SqliteEventBus across processes', () => {
  let buildDir: string;
  let childScript: string;
  let dir: string;
  let file: string;
  const children: Child[] = [];
  const buses: SqliteEventBus[] = [];
  const running: RunningSubscription[] = [];

  beforeAll(async () => {
    buildDir = await mkdtemp(join(tmpdir(), 'twinstore-bus-child-'));
    childScript = join(buildDir, 'bus-consumer.child.js');
    buildSync({
      absWorkingDir: ROOT,
      entryPoints: [join(__dirname, 'fixtures', 'bus-consumer.child.ts')],
      outfile: childScript,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      tsconfig: 'tsconfig.base.json',
      logLevel: 'warning',
    });
  });
  afterAll(async () => {
    await rm(buildDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
      await c.exited;
    }
    await Promise.all(running.splice(0).map((r) => r.close(500)));
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function freshFile(): Promise<void> {
    dir = await mkdtemp(join(tmpdir(), 'twinstore-bus-mp-'));
    file = join(dir, 'bus.db');
  }

  function open(lockDurationMs = 60_000): SqliteEventBus {
    const bus = openSqliteEventBus({ file, subscriptions: { work: ALL }, lockDurationMs });
    buses.push(bus);
    return bus;
  }

  async function startChild(
    config: Omit<BusConsumerChildConfig, 'file' | 'subscription' | 'types'>,
  ): Promise<Child> {
    const full: BusConsumerChildConfig = { file, subscription: 'work', types: ALL, ...config };
    const child = spawn(process.execPath, [childScript], {
      // The bundle lives in a temp dir: resolve its external packages from the workspace.
      env: {
        ...process.env,
        NODE_PATH: join(ROOT, 'node_modules'),
        TWINSTORE_BUS_CHILD: JSON.stringify(full),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const c: Child = {
      process: child,
      lines: [],
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      c.lines.push(...parts);
    });
    children.push(c);
    await pollUntil(() => c.lines.includes('ready') || child.exitCode !== null, 'the child to start', 15_000);
    expect(c.lines).toContain('ready');
    return c;
  }

  const handled = (c: Child): string[] =>
    c.lines.filter((l) => l.startsWith('handled ')).map((l) => l.split(' ')[1]);

  it('two consumer processes share a subscription and handle each message exactly once', async () => {
    await freshFile();
    const publisher = open();
    const settings = { mode: 'consume' as const, lockDurationMs: 60_000, concurrency: 4, handlerDelayMs: 2 };
    const [a, b] = await Promise.all([startChild(settings), startChild(settings)]);
    const events = Array.from({ length: 300 }, (_, i) => sampleBusEvent(ALL[i % 3]));
    for (let i = 0; i < events.length; i += 20) await publisher.publish(events.slice(i, i + 20));

    await pollUntil(() => handled(a).length + handled(b).length >= events.length, 'every message', 15_000);
    await pollUntil(
      async () => (await publisher.stats()).every((s) => s.active === 0),
      'the settlements to commit',
      5_000,
    );
    a.process.kill('SIGTERM');
    b.process.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);

    const all = [...handled(a), ...handled(b)];
    expect(all.length).toBe(events.length);
    expect(new Set(all)).toEqual(new Set(events.map((e) => e.id)));
    expect(handled(a).length).toBeGreaterThan(0);
    expect(handled(b).length).toBeGreaterThan(0);
  });

  it('a message held by a killed process is delivered to another once its lock expires', async () => {
    await freshFile();
    const lockDurationMs = 400;
    const bus = open(lockDurationMs);
    const crashing = await startChild({ mode: 'hang', lockDurationMs, concurrency: 1, handlerDelayMs: 0 });
    const event = sampleBusEvent('twin.saved.v1');
    const publishedAt = Date.now();
    await bus.publish([event]);
    await pollUntil(
      () => crashing.lines.includes(`started ${event.id}`),
      'the doomed handler to start',
      5_000,
    );
    crashing.process.kill('SIGKILL');
    await crashing.exited;

    const calls: Array<{ id: string; deliveryCount: number; at: number }> = [];
    running.push(
      bus.subscribe(
        'work',
        async (e, ctx) => {
          calls.push({ id: e.id, deliveryCount: ctx.deliveryCount, at: Date.now() });
          return done();
        },
        { concurrency: 1, types: ALL },
      ),
    );
    await pollUntil(async () => (await bus.stats())[0].active === 0, 'the redelivery to complete', 5_000);

    expect(calls.map(({ id, deliveryCount }) => ({ id, deliveryCount }))).toEqual([
      { id: event.id, deliveryCount: 2 },
    ]);
    // The dead process claimed after the publish, so its lock ran until at least publishedAt + lockDurationMs.
    expect(calls[0].at).toBeGreaterThanOrEqual(publishedAt + lockDurationMs);
  });
});
