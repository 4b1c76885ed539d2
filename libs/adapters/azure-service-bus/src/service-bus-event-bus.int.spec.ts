import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deadLetter, done, EventHandler, RunningSubscription } from '@twinstore/application';
import { createEvent, EventType } from '@twinstore/contracts';
import {
  describeEventBusContract,
  pollUntil,
  RunningServiceBusTestBroker,
  sampleBusEvent,
  startServiceBusTestBroker,
} from '@twinstore/testing';
import { toServiceBusMessage } from './cloud-event-message.mapping';
import { MAX_DELIVERY_COUNT_EXCEEDED, SCHEMA_VALIDATION_FAILED } from './failure-reason';
import {
  createServiceBusEventBus,
  ServiceBusEventBus,
  ServiceBusEventBusOptions,
} from './service-bus-event-bus.adapter';
import { ServiceBusSubscriptionRunner } from './service-bus-subscription.runner';
import { REDRIVE_RULE_NAME, syncSubscriptionRules } from './subscription-rules';

let broker: RunningServiceBusTestBroker;
let topics = 0;

beforeAll(async () => {
  broker = await startServiceBusTestBroker({ topics: {} });
});

afterAll(async () => {
  await broker?.stop();
});

// One topic per contract case, created with the case's subscriptions, lock duration and max delivery count.
describeEventBusContract('ServiceBusEventBus on the test broker', async (options) => {
  const topic = `contract-${++topics}`;
  broker.broker.createTopic(topic, {
    subscriptions: Object.keys(options.subscriptions).map((name) => ({
      name,
      lockDurationMs: options.lockDurationMs,
      maxDeliveryCount: options.maxDeliveryCount,
    })),
  });
  const bus = await createServiceBusEventBus({
    connectionString: broker.connectionString,
    topic,
    subscriptions: options.subscriptions,
    maxDeliveryCount: options.maxDeliveryCount,
    retryBackoff: options.retryBackoff,
  });
  return {
    publisher: bus,
    subscriber: bus,
    admin: bus,
    cleanup: async () => {
      await bus.close();
      broker.broker.deleteTopic(topic);
    },
  };
});

describe('ServiceBusEventBus (Service Bus specifics)', () => {
  const ALL: readonly EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];
  const FAST = { retryBackoff: { baseMs: 2, maxMs: 10 } };
  const opened: ServiceBusEventBus[] = [];
  const running: RunningSubscription[] = [];
  const clients: ServiceBusClient[] = [];

  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close(500)));
    await Promise.all(opened.splice(0).map((b) => b.close()));
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  function newTopic(
    subscriptions: Array<string | { name: string; lockDurationMs?: number; maxDeliveryCount?: number }> = [
      'all',
    ],
  ): string {
    const topic = `specific-${++topics}`;
    broker.broker.createTopic(topic, { subscriptions });
    return topic;
  }

  async function open(
    topic: string,
    options: Partial<ServiceBusEventBusOptions> = {},
  ): Promise<ServiceBusEventBus> {
    const bus = await createServiceBusEventBus({
      connectionString: broker.connectionString,
      topic,
      subscriptions: { all: ALL },
      ...FAST,
      ...options,
    });
    opened.push(bus);
    return bus;
  }

  function subscribe(bus: ServiceBusEventBus, handler: EventHandler, concurrency = 4): RunningSubscription {
    const r = bus.subscribe('all', handler, { concurrency, types: ALL });
    running.push(r);
    return r;
  }

  function rawClient(): ServiceBusClient {
    const c = new ServiceBusClient(broker.connectionString);
    clients.push(c);
    return c;
  }

  async function counts(topic: string, subscription = 'all') {
    return broker.broker.subscriptionCounts(topic, subscription);
  }

  it('publishes CloudEvents in binary mode: ce-* and traceparent as properties, data as the JSON body', async () => {
    const topic = newTopic();
    const bus = await open(topic);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const event = createEvent(
      'twin.deleted.v1',
      { leadId: 'lead-1', version: '01KB0000000000000000000001', deletedAt: '2026-01-02T03:04:05.000Z' },
      { traceparent, time: new Date('2026-01-02T03:04:05.000Z') },
    );
    await bus.publish([event]);

    const [message] = await rawClient()
      .createReceiver(topic, 'all', { receiveMode: 'receiveAndDelete', skipParsingBodyAsJson: true })
      .receiveMessages(1, { maxWaitTimeInMs: 3_000 });
    expect(message).toMatchObject({
      messageId: event.id,
      subject: 'twin.deleted.v1',
      contentType: 'application/json',
      applicationProperties: {
        'ce-specversion': '1.0',
        'ce-id': event.id,
        'ce-source': '/twinstore',
        'ce-type': 'twin.deleted.v1',
        'ce-subject': 'lead-1',
        'ce-time': '2026-01-02T03:04:05.000Z',
        traceparent,
      },
    });
    expect(JSON.parse((message.body as Buffer).toString('utf8'))).toEqual(event.data);
  });

  it('splits a publish larger than one batch into several transfers, losing nothing', async () => {
    const topic = newTopic();
    const bus = await open(topic);
    const events = Array.from({ length: 60 }, () =>
      sampleBusEvent('twin.saved.v1', '# big\n\n' + 'y'.repeat(10_000)),
    );
    const transfers = broker.broker.counters.transfers;
    await bus.publish(events);

    expect(broker.broker.counters.transfers - transfers).toBeGreaterThanOrEqual(3);
    expect((await counts(topic)).active).toBe(60);
  });

  it('caps a batch at 1 MB where the link allows larger messages (Premium), sending a larger one alone', async () => {
    const premium = await startServiceBusTestBroker({
      topics: { [`premium-${++topics}`]: ['all'] },
      maxMessageSizeBytes: 4 * 1024 * 1024,
    });
    try {
      const [topic] = premium.broker.stats().map((s) => s.topic);
      const bus = await createServiceBusEventBus({
        connectionString: premium.connectionString,
        topic,
        subscriptions: { all: ALL },
        ...FAST,
      });
      opened.push(bus);
      const events = Array.from({ length: 12 }, () =>
        sampleBusEvent('twin.saved.v1', '# big\n\n' + 'y'.repeat(300_000)),
      );
      const huge = sampleBusEvent('twin.saved.v1', '# huge\n\n' + 'z'.repeat(1_500_000));
      await bus.publish([...events, huge]);

      // 12 x ~300 KB make at least 4 batches under 1 MB (3 per batch at most), and the huge one goes alone.
      expect(premium.broker.counters.transfers).toBeGreaterThanOrEqual(5);
      expect(premium.broker.counters.received).toBe(13);
      expect(premium.broker.subscriptionCounts(topic, 'all').active).toBe(13);
    } finally {
      await Promise.all(opened.splice(0).map((b) => b.close()));
      await premium.stop();
    }
  });

  it('hands a batch its messages with a body that does not decode kept out and retried alone', async () => {
    const topic = newTopic([{ name: 'all', maxDeliveryCount: 3 }]);
    const bus = await open(topic, { maxDeliveryCount: 3 });
    const good = [sampleBusEvent('twin.saved.v1'), sampleBusEvent('twin.accessed.v1')];
    const bad = { ...toServiceBusMessage(sampleBusEvent('twin.saved.v1')), body: Buffer.from('not json') };
    await bus.publish([good[0]]);
    await bus.publishRaw(bad);
    await bus.publish([good[1]]);
    const handled: string[] = [];
    const r = bus.subscribeBatch(
      'all',
      async (deliveries) => {
        handled.push(...deliveries.map((d) => d.event.id));
        return deliveries.map(() => done());
      },
      { concurrency: 1, types: ALL, maxBatchSize: 10, maxBatchWaitMs: 100 },
    );
    running.push(r);
    await pollUntil(async () => {
      const c = await counts(topic);
      return c.active === 0 && c.deadLettered === 1;
    }, 'the dead letter');

    expect(handled.sort()).toEqual(good.map((e) => e.id).sort());
    const [letter] = await bus.listDeadLetters('all');
    expect(letter).toMatchObject({ messageId: bad.messageId, reason: MAX_DELIVERY_COUNT_EXCEEDED });
    expect(letter.description).toBe(`${SCHEMA_VALIDATION_FAILED}: (not JSON)`);
  });

  it('lets Service Bus drop a republished event (same id) within the duplicate-detection window', async () => {
    const topic = newTopic();
    const bus = await open(topic);
    const event = sampleBusEvent('twin.accessed.v1');
    await bus.publish([event]);
    await bus.publish([event]);
    expect((await counts(topic)).active).toBe(1);
  });

  it('dead-letters a schema-invalid message after maxDeliveryCount deliveries, naming paths, never values', async () => {
    const topic = newTopic([{ name: 'all', maxDeliveryCount: 10 }]);
    const logged: string[] = [];
    const logger = {
      warn: (fields: Record<string, unknown>, message: string) =>
        logged.push(JSON.stringify({ fields, message })),
      error: (fields: Record<string, unknown>, message: string) =>
        logged.push(JSON.stringify({ fields, message })),
    };
    const bus = await open(topic, { logger, maxDeliveryCount: 10 });
    const valid = sampleBusEvent('twin.saved.v1');
    const { body, ...rest } = toServiceBusMessage(valid);
    const data = JSON.parse((body as Buffer).toString('utf8')) as Record<string, unknown>;
    await bus.publishRaw({
      ...rest,
      messageId: 'poison-1',
      body: Buffer.from(
        JSON.stringify({
          ...data,
          size: 'Ada Lovelace',
          metadata: { classification: 'hot', tags: [], extra: {}, income: -987654 },
        }),
      ),
    });
    await bus.publishRaw({ ...rest, messageId: 'poison-2', body: Buffer.from('not json at all') });
    const good = Array.from({ length: 20 }, () => sampleBusEvent('twin.accessed.v1'));
    await bus.publish(good);
    const handled: string[] = [];
    subscribe(bus, async (_e, ctx) => {
      handled.push(ctx.messageId);
      return done();
    });
    await pollUntil(
      async () => (await counts(topic)).deadLettered === 2 && (await counts(topic)).active === 0,
      'two dead letters',
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
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join('\n')).not.toMatch(/987654|Ada|not json at all/);
  });

  it('keeps different outcomes settled at the same moment apart (rhea would merge their dispositions)', async () => {
    const topic = newTopic();
    const bus = await open(topic);
    const events = Array.from({ length: 40 }, () => sampleBusEvent('twin.accessed.v1'));
    await bus.publish(events);
    const rejected = new Set(events.filter((_, i) => i % 2 === 0).map((e) => e.id));
    subscribe(bus, async (e) => (rejected.has(e.id) ? deadLetter('Rejected') : done()), 8);
    await pollUntil(async () => (await counts(topic)).active === 0, 'every message settled');

    const letters = await bus.listDeadLetters('all');
    expect(letters.map((l) => l.messageId).sort()).toEqual([...rejected].sort());
  });

  it('completes, without calling the handler, types the subscription does not take when rules are not synced', async () => {
    const topic = newTopic(['saves']);
    const bus = await open(topic, { subscriptions: { saves: ['twin.saved.v1'] }, syncRules: false });
    const saved = sampleBusEvent('twin.saved.v1');
    await bus.publish([sampleBusEvent('twin.accessed.v1'), saved, sampleBusEvent('twin.deleted.v1')]);
    expect((await counts(topic, 'saves')).active).toBe(3);
    const seen: string[] = [];
    running.push(
      bus.subscribe('saves', async (e) => (seen.push(e.id), done()), {
        concurrency: 2,
        types: ['twin.saved.v1'],
      }),
    );
    await pollUntil(async () => (await counts(topic, 'saves')).active === 0, 'all three settled');
    expect(seen).toEqual([saved.id]);
  });

  it('syncs subscription rules to the event types, replacing $Default, and leaves them alone when equal', async () => {
    const topic = newTopic(['saves']);
    await open(topic, { subscriptions: { saves: ['twin.saved.v1', 'twin.deleted.v1'] } });
    const manager = rawClient().createRuleManager(topic, 'saves');
    const rules: string[] = [];
    for await (const rule of manager.listRules()) rules.push(rule.name);
    expect(rules.sort()).toEqual([REDRIVE_RULE_NAME, 'twin.deleted.v1', 'twin.saved.v1'].sort());
    const client = rawClient();
    expect(await syncSubscriptionRules(client, topic, 'saves', ['twin.deleted.v1', 'twin.saved.v1'])).toEqual(
      {
        changed: false,
      },
    );
  });

  it('renews the lock of a slow handler, so the message is not delivered twice', async () => {
    const topic = newTopic([{ name: 'all', lockDurationMs: 1_000 }]);
    const bus = await open(topic);
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    const deliveries: number[] = [];
    subscribe(bus, async (_e, ctx) => {
      deliveries.push(ctx.deliveryCount);
      await new Promise((resolve) => setTimeout(resolve, 1_800));
      return done();
    });
    const competitor = await open(topic);
    subscribe(competitor, async (_e, ctx) => (deliveries.push(ctx.deliveryCount), done()));
    await pollUntil(async () => (await counts(topic)).active === 0, 'the slow handler to finish', 8_000);
    expect(deliveries).toEqual([1]);
  });

  it('gets a message back once the lock of a consumer that died expires', async () => {
    const topic = newTopic([{ name: 'all', lockDurationMs: 400 }]);
    const bus = await open(topic);
    const event = sampleBusEvent('twin.saved.v1');
    await bus.publish([event]);
    const dead = rawClient().createReceiver(topic, 'all', { maxAutoLockRenewalDurationInMs: 0 });
    expect(await dead.receiveMessages(1, { maxWaitTimeInMs: 3_000 })).toHaveLength(1);

    const calls: Array<[string, number]> = [];
    subscribe(bus, async (e, ctx) => (calls.push([e.id, ctx.deliveryCount]), done()));
    await pollUntil(() => calls.length === 1, 'the redelivery');
    expect(calls).toEqual([[event.id, 2]]);
  });

  it('redrives chosen dead letters to their own subscription only, then purges the rest', async () => {
    const topic = newTopic(['all', 'other']);
    const bus = await open(topic, { subscriptions: { all: ALL, other: ALL } });
    const events = Array.from({ length: 3 }, () => sampleBusEvent('twin.saved.v1'));
    await bus.publish(events);
    const rejecting = subscribe(bus, async () => deadLetter('Rejected'));
    await pollUntil(async () => (await counts(topic)).deadLettered === 3, 'three dead letters');
    await rejecting.close();

    expect(await bus.redrive('all', [events[1].id])).toBe(1);
    expect((await counts(topic, 'other')).active).toBe(3);
    const redelivered: Array<[string, number]> = [];
    subscribe(bus, async (e, ctx) => (redelivered.push([e.id, ctx.deliveryCount]), done()));
    await pollUntil(() => redelivered.length === 1, 'the redriven message');
    expect(redelivered).toEqual([[events[1].id, 1]]);

    expect(await bus.purgeDeadLetters('all')).toBe(2);
    await pollUntil(async () => (await counts(topic)).active === 0, 'the redriven message to complete');
    expect(await bus.stats()).toEqual([
      { subscription: 'all', active: 0, deadLettered: 0 },
      { subscription: 'other', active: 3, deadLettered: 0 },
    ]);
  });

  it('stops a subscription whose entity disappears (MessagingEntityNotFound) and logs only the code', async () => {
    const topic = newTopic();
    const errors: Array<Record<string, unknown>> = [];
    const bus = await open(topic, {
      logger: { warn: () => undefined, error: (fields) => errors.push(fields) },
    });
    const sub = subscribe(bus, async () => done()) as ServiceBusSubscriptionRunner;
    await bus.publish([sampleBusEvent('twin.saved.v1')]);
    await pollUntil(async () => (await counts(topic)).active === 0, 'the first message');
    broker.broker.deleteSubscription(topic, 'all');

    await pollUntil(() => sub.failure !== undefined, 'the subscription to stop');
    expect(sub.failure).toBe('MessagingEntityNotFound');
    expect(errors[0]).toMatchObject({ subscription: 'all', code: 'MessagingEntityNotFound' });
  });

  it('refuses a subscriber for an unknown subscription or with other types than configured', async () => {
    const bus = await open(newTopic());
    expect(() => bus.subscribe('nobody', async () => done(), { concurrency: 1, types: ALL })).toThrow(
      /not registered/,
    );
    expect(() =>
      bus.subscribe('all', async () => done(), { concurrency: 1, types: ['twin.saved.v1'] }),
    ).toThrow(/receives/);
  });
});
