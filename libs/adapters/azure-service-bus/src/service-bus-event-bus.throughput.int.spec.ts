import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { done } from '@twinstore/application';
import { EventType } from '@twinstore/contracts';
import {
  pollUntil,
  RunningServiceBusTestBroker,
  sampleBusEvent,
  startServiceBusTestBroker,
} from '@twinstore/testing';
import { createServiceBusEventBus, ServiceBusEventBus } from './service-bus-event-bus.adapter';

/** Publish and consume rates through the adapter (CloudEvents mapping, validation, explicit settlement). */
describe('ServiceBusEventBus throughput on the test broker (twin.saved.v1 with 1 KB of markdown)', () => {
  const ALL: readonly EventType[] = ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'];
  const EVENTS = 2_000;
  let running: RunningServiceBusTestBroker;
  let bus: ServiceBusEventBus;

  beforeAll(async () => {
    running = await startServiceBusTestBroker({ topics: { bench: ['all'] } });
    bus = await createServiceBusEventBus({
      connectionString: running.connectionString,
      topic: 'bench',
      subscriptions: { all: ALL },
    });
  });

  afterAll(async () => {
    await bus?.close();
    await running?.stop();
  });

  it('publishes and consumes', async () => {
    const events = Array.from({ length: EVENTS }, () =>
      sampleBusEvent('twin.saved.v1', '# p\n\n' + 'z'.repeat(1024)),
    );
    let started = Date.now();
    await bus.publish(events);
    const publishMs = Date.now() - started;
    console.log(
      `adapter publish: ${EVENTS} events in ${publishMs} ms = ${Math.round(EVENTS / (publishMs / 1000))} events/s`,
    );

    let handled = 0;
    started = Date.now();
    const sub = bus.subscribe('all', async () => (handled++, done()), { concurrency: 32, types: ALL });
    await pollUntil(() => handled === EVENTS, 'every event handled', 30_000);
    await pollUntil(
      () => running.broker.subscriptionCounts('bench', 'all').active === 0,
      'every event settled',
    );
    const consumeMs = Date.now() - started;
    console.log(
      `adapter consume (32 concurrent, validate + complete): ${EVENTS} events in ${consumeMs} ms = ${Math.round(EVENTS / (consumeMs / 1000))} events/s`,
    );
    await sub.close();
    expect(EVENTS / (publishMs / 1000)).toBeGreaterThan(500);
    expect(EVENTS / (consumeMs / 1000)).toBeGreaterThan(200);
  });
});
