import { ServiceBusClient, ServiceBusMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunningServiceBusTestBroker, startServiceBusTestBroker } from './service-bus-broker';

/**
 * Send and receive rates of the unmodified SDK against the test broker, printed for the record. The floors
 * are an order of magnitude below what a 2-core machine measures, so they catch a regression (a stalled
 * exchange, a lost credit) without flaking.
 */
describe('Service Bus test broker throughput (SDK, loopback, 1 KB messages)', () => {
  const MESSAGES = 5_000;
  const body = Buffer.alloc(1024, 'x');
  let running: RunningServiceBusTestBroker;
  let client: ServiceBusClient;

  beforeAll(async () => {
    running = await startServiceBusTestBroker({ topics: { bench: ['s'] } });
    client = new ServiceBusClient(running.connectionString);
    await client.createSender('bench').sendMessages({ body: 'warm-up', messageId: 'warm-up' });
    const r = client.createReceiver('bench', 's', { receiveMode: 'receiveAndDelete' });
    await r.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    await r.close();
  });

  afterAll(async () => {
    await client?.close();
    await running?.stop();
  });

  function message(i: number): ServiceBusMessage {
    return {
      body,
      messageId: `bench-${i}`,
      subject: 'twin.saved.v1',
      applicationProperties: { 'ce-id': `bench-${i}` },
    };
  }

  function report(what: string, count: number, ms: number): number {
    const rate = Math.round(count / (ms / 1000));
    console.log(`${what}: ${count} messages in ${ms} ms = ${rate} msg/s`);
    return rate;
  }

  it('sends in batches (createMessageBatch, 256 KB each)', async () => {
    const sender = client.createSender('bench');
    const started = Date.now();
    let batch = await sender.createMessageBatch();
    for (let i = 0; i < MESSAGES; i++) {
      if (batch.tryAddMessage(message(i))) continue;
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      batch.tryAddMessage(message(i));
    }
    await sender.sendMessages(batch);
    const rate = report('batched send', MESSAGES, Date.now() - started);
    expect(running.broker.subscriptionCounts('bench', 's').active).toBe(MESSAGES);
    expect(rate).toBeGreaterThan(1_000);
  });

  it('sends single messages, 32 in flight', async () => {
    const sender = client.createSender('bench');
    const count = 2_048;
    const started = Date.now();
    for (let i = 0; i < count; i += 32) {
      await Promise.all(Array.from({ length: 32 }, (_, j) => sender.sendMessages(message(MESSAGES + i + j))));
    }
    const rate = report('single sends, 32 in flight', count, Date.now() - started);
    expect(rate).toBeGreaterThan(300);
  });

  it('receives in peek-lock with subscribe (64 concurrent calls) and completes each message', async () => {
    const total = running.broker.subscriptionCounts('bench', 's').active;
    const receiver = client.createReceiver('bench', 's');
    let completed = 0;
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      receiver.subscribe(
        {
          processMessage: async (m) => {
            await receiver.completeMessage(m);
            if (++completed === total) resolve();
          },
          processError: async (args) => reject(args.error),
        },
        { maxConcurrentCalls: 64, autoCompleteMessages: false },
      );
    });
    const rate = report('peek-lock receive + complete', total, Date.now() - started);
    await receiver.close();
    expect(running.broker.subscriptionCounts('bench', 's')).toMatchObject({ active: 0, locked: 0 });
    expect(rate).toBeGreaterThan(500);
  });
});
