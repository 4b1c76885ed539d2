import {
  isServiceBusError,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RunningServiceBusTestBroker, startServiceBusTestBroker } from './service-bus-broker';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Service Bus test broker, driven by the unmodified @azure/service-bus SDK', () => {
  let running: RunningServiceBusTestBroker;
  let client: ServiceBusClient;
  let topics = 0;
  const receivers: ServiceBusReceiver[] = [];

  beforeAll(async () => {
    running = await startServiceBusTestBroker({ lockDurationMs: 2_000, maxDeliveryCount: 10 });
    client = new ServiceBusClient(running.connectionString, {
      retryOptions: { maxRetries: 0, timeoutInMs: 5_000 },
    });
  });

  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  afterAll(async () => {
    await client?.close();
    await running?.stop();
  });

  /** A fresh topic per test, so counts start at zero. */
  function topic(
    subscriptions: Array<string | { name: string; lockDurationMs?: number; maxDeliveryCount?: number }> = [
      's',
    ],
    duplicateDetectionWindowMs?: number,
  ): string {
    const name = `topic-${++topics}`;
    running.broker.createTopic(name, { subscriptions, duplicateDetectionWindowMs });
    return name;
  }

  function receiver(
    t: string,
    s: string,
    options: Parameters<ServiceBusClient['createReceiver']>[2] = {},
  ): ServiceBusReceiver {
    const r = client.createReceiver(t, s, options);
    receivers.push(r);
    return r;
  }

  async function receiveOne(
    r: ServiceBusReceiver,
    maxWaitTimeInMs = 3_000,
  ): Promise<ServiceBusReceivedMessage> {
    const [message] = await r.receiveMessages(1, { maxWaitTimeInMs });
    if (!message) throw new Error('no message arrived');
    return message;
  }

  it('starts with topic twin-events and its four subscriptions by default, on plain AMQP with CBS', async () => {
    expect(running.connectionString).toBe(
      `Endpoint=sb://127.0.0.1:${running.port}/;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true`,
    );
    expect(
      running.broker
        .stats()
        .filter((s) => s.topic === 'twin-events')
        .map((s) => s.subscription),
    ).toEqual(['writer', 'indexer', 'cache-warmer', 'tiering']);

    const before = running.broker.counters.cbsPutTokens;
    await client.createSender('twin-events').sendMessages({ body: 'hello', messageId: 'cbs-1' });
    const message = await receiveOne(receiver('twin-events', 'writer'));
    await receiver('twin-events', 'writer').completeMessage(message);

    expect(message.body).toBe('hello');
    // The sender and the receiver each put a token on the $cbs node before attaching.
    expect(running.broker.counters.cbsPutTokens).toBeGreaterThanOrEqual(before + 2);
  });

  it('fans a message out to every subscription of the topic, with sequence number and enqueued time', async () => {
    const t = topic(['a', 'b', 'c']);
    await client
      .createSender(t)
      .sendMessages({ body: { n: 1 }, messageId: 'fan-1', subject: 'twin.saved.v1' });

    for (const s of ['a', 'b', 'c']) {
      const message = await receiveOne(receiver(t, s));
      expect(message).toMatchObject({
        body: { n: 1 },
        messageId: 'fan-1',
        subject: 'twin.saved.v1',
        deliveryCount: 0,
      });
      expect(message.sequenceNumber!.toNumber()).toBeGreaterThan(0);
      expect(message.enqueuedTimeUtc!.getTime()).toBeGreaterThan(Date.now() - 10_000);
    }
  });

  it('redelivers a message whose lock expired with a higher delivery count, and refuses the stale settlement', async () => {
    const t = topic([{ name: 's', lockDurationMs: 300 }]);
    await client.createSender(t).sendMessages({ body: 'x', messageId: 'expiry-1' });
    const first = receiver(t, 's', { maxAutoLockRenewalDurationInMs: 0 });
    const held = await receiveOne(first);
    expect(held.lockedUntilUtc!.getTime() - Date.now()).toBeLessThanOrEqual(300);

    const second = receiver(t, 's', { maxAutoLockRenewalDurationInMs: 0 });
    const again = await receiveOne(second);
    expect(again.messageId).toBe('expiry-1');
    expect(again.deliveryCount).toBe(1);

    const stale = await first.completeMessage(held).then(
      () => 'completed',
      (error: unknown) => (isServiceBusError(error) ? error.code : 'other'),
    );
    expect(stale).toBe('MessageLockLost');
    await second.completeMessage(again);
    expect(running.broker.subscriptionCounts(t, 's')).toMatchObject({ active: 0, deadLettered: 0 });
  });

  it('renews a lock, keeping the message from other receivers past its first expiry', async () => {
    const t = topic([{ name: 's', lockDurationMs: 800 }]);
    await client.createSender(t).sendMessages({ body: 'x', messageId: 'renew-1' });
    const holder = receiver(t, 's', { maxAutoLockRenewalDurationInMs: 0 });
    const message = await receiveOne(holder);
    const firstUntil = message.lockedUntilUtc!.getTime();
    await sleep(firstUntil - Date.now() - 300);
    const renewedUntil = (await holder.renewMessageLock(message)).getTime();
    expect(renewedUntil).toBeGreaterThan(firstUntil);

    await sleep(firstUntil - Date.now() + 100);
    const other = await receiver(t, 's').receiveMessages(1, { maxWaitTimeInMs: 100 });
    expect(other).toEqual([]);
    await holder.completeMessage(message);
    expect(running.broker.subscriptionCounts(t, 's').active).toBe(0);
  });

  it('completes, abandons (counting a delivery) and dead-letters with reason and description', async () => {
    const t = topic();
    const sender = client.createSender(t);
    await sender.sendMessages([
      { body: 'done', messageId: 'c-1' },
      { body: 'again', messageId: 'c-2' },
      { body: 'bad', messageId: 'c-3' },
    ]);
    const r = receiver(t, 's');
    const byId = new Map<string, ServiceBusReceivedMessage>();
    while (byId.size < 3)
      for (const m of await r.receiveMessages(3, { maxWaitTimeInMs: 1_000 }))
        byId.set(String(m.messageId), m);

    await r.completeMessage(byId.get('c-1')!);
    await r.abandonMessage(byId.get('c-2')!);
    await r.deadLetterMessage(byId.get('c-3')!, {
      deadLetterReason: 'UnsupportedVersion',
      deadLetterErrorDescription: 'version 0 is not supported',
    });

    const back = await receiveOne(r);
    expect(back).toMatchObject({ messageId: 'c-2', deliveryCount: 1 });
    await r.completeMessage(back);
    const dead = await receiveOne(receiver(t, 's', { subQueueType: 'deadLetter' }));
    expect(dead).toMatchObject({
      messageId: 'c-3',
      body: 'bad',
      deadLetterReason: 'UnsupportedVersion',
      deadLetterErrorDescription: 'version 0 is not supported',
    });
    expect(running.broker.subscriptionCounts(t, 's')).toMatchObject({ active: 0, deadLettered: 1 });
  });

  it('dead-letters a message after maxDeliveryCount failed deliveries with reason MaxDeliveryCountExceeded', async () => {
    const t = topic([{ name: 's', maxDeliveryCount: 3 }]);
    await client.createSender(t).sendMessages({ body: 'poison', messageId: 'max-1' });
    const r = receiver(t, 's');
    for (let i = 0; i < 3; i++) {
      const m = await receiveOne(r);
      expect(m.deliveryCount).toBe(i);
      await r.abandonMessage(m);
    }

    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
    const [dead] = await receiver(t, 's', { subQueueType: 'deadLetter' }).peekMessages(10);
    expect(dead).toMatchObject({
      messageId: 'max-1',
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deliveryCount: 3,
    });
  });

  it('holds a scheduled message until its time and forgets a cancelled one', async () => {
    const t = topic();
    const sender = client.createSender(t);
    const at = new Date(Date.now() + 1_200);
    const [kept, cancelled] = await sender.scheduleMessages(
      [
        { body: 'later', messageId: 'sched-1' },
        { body: 'never', messageId: 'sched-2' },
      ],
      at,
    );
    await sender.cancelScheduledMessages(cancelled);
    await sender.sendMessages({ body: 'also later', messageId: 'sched-3', scheduledEnqueueTimeUtc: at });
    expect(kept.toNumber()).toBeGreaterThan(0);
    expect(running.broker.scheduledCount(t)).toBe(2);

    const r = receiver(t, 's');
    expect(await r.peekMessages(10)).toEqual([]);
    const arrived: ServiceBusReceivedMessage[] = [];
    while (arrived.length < 2) arrived.push(...(await r.receiveMessages(2, { maxWaitTimeInMs: 2_000 })));

    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime());
    expect(arrived.map((m) => m.messageId).sort()).toEqual(['sched-1', 'sched-3']);
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
  });

  it('drops a message whose id was seen within the duplicate-detection window, and takes it after', async () => {
    const t = topic(['s'], 300);
    const sender = client.createSender(t);
    await sender.sendMessages({ body: 'first', messageId: 'dup-1' });
    await sender.sendMessages({ body: 'second', messageId: 'dup-1' });
    expect(running.broker.subscriptionCounts(t, 's').active).toBe(1);

    await sleep(400);
    await sender.sendMessages({ body: 'third', messageId: 'dup-1' });
    const r = receiver(t, 's', { receiveMode: 'receiveAndDelete' });
    const bodies: unknown[] = [];
    while (bodies.length < 2)
      bodies.push(...(await r.receiveMessages(2, { maxWaitTimeInMs: 1_000 })).map((m) => m.body));
    expect(bodies).toEqual(['first', 'third']);
  });

  it('takes a batch of 500 messages as one transfer and delivers every one of them', async () => {
    const t = topic();
    const sender = client.createSender(t);
    const batch = await sender.createMessageBatch();
    for (let i = 0; i < 500; i++) {
      expect(
        batch.tryAddMessage({ body: { i }, messageId: `batch-${i}`, applicationProperties: { i } }),
      ).toBe(true);
    }
    const { transfers, received } = running.broker.counters;
    await sender.sendMessages(batch);
    expect(running.broker.counters.transfers - transfers).toBe(1);
    expect(running.broker.counters.received - received).toBe(500);
    expect(running.broker.subscriptionCounts(t, 's').active).toBe(500);

    const r = receiver(t, 's', { receiveMode: 'receiveAndDelete' });
    const seen = new Set<number>();
    while (seen.size < 500) {
      for (const m of await r.receiveMessages(250, { maxWaitTimeInMs: 1_000 })) {
        expect(m.applicationProperties?.i).toBe((m.body as { i: number }).i);
        seen.add((m.body as { i: number }).i);
      }
    }
    expect(seen.size).toBe(500);
  });

  it('advertises the Standard tier message size, so the SDK splits what does not fit', async () => {
    const t = topic();
    const batch = await client.createSender(t).createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(256 * 1024);
    expect(batch.tryAddMessage({ body: 'x'.repeat(200 * 1024) })).toBe(true);
    expect(batch.tryAddMessage({ body: 'x'.repeat(100 * 1024) })).toBe(false);
  });

  it('peeks without locking, defers, and settles a deferred message through $management', async () => {
    const t = topic();
    await client.createSender(t).sendMessages([
      { body: 'one', messageId: 'p-1' },
      { body: 'two', messageId: 'p-2' },
    ]);
    const r = receiver(t, 's');
    expect((await r.peekMessages(10)).map((m) => m.messageId)).toEqual(['p-1', 'p-2']);

    const first = await receiveOne(r);
    await r.deferMessage(first);
    const [peekedDeferred] = await r.peekMessages(1, { fromSequenceNumber: first.sequenceNumber! });
    expect(peekedDeferred.state).toBe('deferred');
    const [deferred] = await r.receiveDeferredMessages(first.sequenceNumber!);
    expect(deferred).toMatchObject({ messageId: 'p-1', body: 'one' });
    await r.completeMessage(deferred);

    expect(running.broker.subscriptionCounts(t, 's')).toMatchObject({ active: 1, deferred: 0 });
  });

  it('routes by subscription rules managed through the SDK rule manager', async () => {
    const t = topic(['saves', 'redrive']);
    const saves = client.createRuleManager(t, 'saves');
    await saves.createRule('saved', { subject: 'twin.saved.v1' });
    await saves.deleteRule('$Default');
    const redrive = client.createRuleManager(t, 'redrive');
    await redrive.createRule('mine', { applicationProperties: { to: 'redrive' } });
    await redrive.createRule('sql', { sqlExpression: "sys.Label IN ('twin.deleted.v1')" });
    await redrive.deleteRule('$Default');
    const rules: string[] = [];
    for await (const rule of redrive.listRules()) rules.push(rule.name);
    expect(rules).toEqual(['mine', 'sql']);

    await client.createSender(t).sendMessages([
      { body: 1, messageId: 'r-1', subject: 'twin.saved.v1' },
      { body: 2, messageId: 'r-2', subject: 'twin.accessed.v1' },
      { body: 3, messageId: 'r-3', applicationProperties: { to: 'redrive' } },
      { body: 4, messageId: 'r-4', subject: 'twin.deleted.v1' },
    ]);
    const ids = async (s: string) => (await receiver(t, s).peekMessages(10)).map((m) => m.messageId);
    expect(await ids('saves')).toEqual(['r-1']);
    expect(await ids('redrive')).toEqual(['r-3', 'r-4']);
  });

  it('reports an unknown entity as MessagingEntityNotFound', async () => {
    const error = await client
      .createReceiver('no-such-topic', 's')
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceBusError(error) && error.code).toBe('MessagingEntityNotFound');
  });
});
