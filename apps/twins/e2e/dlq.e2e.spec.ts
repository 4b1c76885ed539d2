import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CONSUMERS, EventBusAdmin, EventPublisher, EventSubscriber } from '@twinstore/application';
import { openSqliteEventBus } from '@twinstore/adapters-embedded';
import { createServiceBusEventBus } from '@twinstore/adapters-azure-service-bus';
import { createEvent } from '@twinstore/contracts';
import { VersionGenerator } from '@twinstore/domain';
import { embeddedLayout } from '@twinstore/platform';
import {
  buildAppsForTest,
  makeTempDir,
  startServiceBusTestBroker,
  TempDir,
  waitFor,
  WORKSPACE_ROOT,
} from '@twinstore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
type Bus = EventPublisher & EventSubscriber & EventBusAdmin;

interface Profile {
  name: string;
  /** The bus with short retry backoff (so ten failures take a second), and the CLI's environment. */
  setup(dataDir: string): Promise<{ bus: Bus; env: Record<string, string>; stop(): Promise<void> }>;
}

const PROFILES: Profile[] = [
  {
    name: 'embedded (SQLite bus)',
    async setup(dataDir) {
      const bus = openSqliteEventBus({
        file: embeddedLayout(dataDir).bus,
        subscriptions: CONSUMERS,
        retryBackoff: { baseMs: 10, maxMs: 50 },
      });
      return { bus, env: {}, stop: () => bus.close() };
    },
  },
  {
    name: 'azure (Service Bus, unmodified SDK against the test broker)',
    async setup() {
      const broker = await startServiceBusTestBroker();
      const bus = await createServiceBusEventBus({
        connectionString: broker.connectionString,
        subscriptions: CONSUMERS,
        retryBackoff: { baseMs: 10, maxMs: 50 },
      });
      return {
        bus,
        env: {
          TWINS_EVENT_BUS: 'service-bus',
          TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: broker.connectionString,
        },
        stop: async () => {
          await bus.close();
          await broker.stop();
        },
      };
    },
  },
];

describe.each(PROFILES)('dead letters and `twins dlq` on the $name profile', (profile) => {
  let buildDir: string;
  let tmp: TempDir;
  let setup: Awaited<ReturnType<Profile['setup']>>;
  let broken = true;
  let processed = 0;
  let deliveries = 0;
  let closeSubscription: () => Promise<void>;

  const twins = (args: string[]) =>
    run(process.execPath, [join(buildDir, 'apps', 'twins', 'main.js'), 'dlq', ...args], {
      cwd: WORKSPACE_ROOT,
      env: { PATH: process.env.PATH ?? '', TWINS_DATA_DIR: tmp.dir, TWINS_LOG_LEVEL: 'silent', ...setup.env },
    });

  beforeAll(async () => {
    buildDir = buildAppsForTest('e2e-dlq');
    tmp = await makeTempDir('twins-dlq-');
    setup = await profile.setup(tmp.dir);
    const sub = setup.bus.subscribe(
      'indexer',
      async () => {
        deliveries++;
        if (broken) throw new Error('index unavailable');
        processed++;
        return { kind: 'done' };
      },
      { concurrency: 1, types: CONSUMERS.indexer },
    );
    closeSubscription = () => sub.close(5_000);
  }, 60_000);

  afterAll(async () => {
    await closeSubscription?.();
    await setup?.stop();
    await tmp?.cleanup();
  });

  it('a message that fails 10 times lands in the dead-letter queue with a reason, and `dlq list` shows it', async () => {
    const version = new VersionGenerator(() => new Date()).next();
    const event = createEvent('twin.deleted.v1', {
      leadId: 'dlq-lead',
      version,
      deletedAt: new Date().toISOString(),
    });
    await setup.bus.publish([event]);
    await waitFor(
      'dead-lettered',
      async () => {
        const [dead] = await setup.bus.listDeadLetters('indexer');
        return dead;
      },
      30_000,
    );
    expect(deliveries).toBe(10);
    expect(processed).toBe(0);

    const { stdout } = await twins(['list', '--json']);
    const listed = JSON.parse(stdout) as { subscription: string; reason: string; deliveryCount: number }[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ subscription: 'indexer', deliveryCount: 10 });
    expect(listed[0].reason).toMatch(/MaxDeliveryCountExceeded/);
    expect(JSON.stringify(listed)).not.toContain('dlq-lead'); // list shows metadata, not bodies

    const text = await twins(['list', '--subscription', 'indexer']);
    expect(text.stdout).toContain('MaxDeliveryCountExceeded');
  }, 60_000);

  it('`dlq redrive` brings it back and it is processed exactly once', async () => {
    broken = false;
    const { stdout } = await twins(['redrive', '--subscription', 'indexer']);
    expect(stdout).toContain('redrove 1 message');
    await waitFor('processed after redrive', async () => processed === 1, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(processed).toBe(1);
    expect(await setup.bus.listDeadLetters('indexer')).toEqual([]);
    expect((await twins(['list'])).stdout).toContain('no dead-lettered messages');
  }, 60_000);

  it('`dlq purge` needs --yes, unknown subscriptions are refused', async () => {
    const refused = await twins(['purge', '--subscription', 'indexer']).catch((e: { code: number }) => e);
    expect((refused as { code: number }).code).toBe(2);
    const unknown = await twins(['list', '--subscription', 'nope']).catch((e: { code: number }) => e);
    expect((unknown as { code: number }).code).toBe(2);
    expect((await twins(['purge', '--subscription', 'indexer', '--yes'])).stdout).toContain('purged 0');
  }, 60_000);
});
