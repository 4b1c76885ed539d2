import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchEventHandler,
  BatchSubscribeOptions,
  deadLetter,
  Delivery,
  DeliveryContext,
  done,
  EventBusAdmin,
  EventHandler,
  EventPublisher,
  EventSubscriber,
  HandlerOutcome,
  retry,
  RunningSubscription,
  skip,
  SubscribeOptions,
} from '@twinstore/application';
import { createEvent, decodeEvent, EventType, TwinEvent } from '@twinstore/contracts';

export interface EventBusContractOptions {
  /** Subscription name -> the event types it receives. */
  subscriptions: Record<string, readonly EventType[]>;
  lockDurationMs: number;
  maxDeliveryCount: number;
  retryBackoff: { baseMs: number; maxMs: number };
}

export interface EventBusContractSubject {
  publisher: EventPublisher;
  subscriber: EventSubscriber;
  admin: EventBusAdmin;
  /** Closes everything the factory opened and removes what it created. */
  cleanup(): Promise<void>;
}

export interface EventBusContractSettings {
  /** How long to wait for a settlement; remote brokers need more. Default 10 s. */
  settleTimeoutMs?: number;
  /** Lock duration given to the factory. Default 5 s (the contract never waits for a lock to expire). */
  lockDurationMs?: number;
  /**
   * The bus hands a batch its deliveries in publish order and, with concurrency 1, batches in that order too
   * (the SQLite bus). Service Bus guarantees no order without sessions, so it leaves this off.
   */
  batchesInPublishOrder?: boolean;
}

const SAVED: EventType = 'twin.saved.v1';
const DELETED: EventType = 'twin.deleted.v1';
const ACCESSED: EventType = 'twin.accessed.v1';
const ALL: readonly EventType[] = [SAVED, DELETED, ACCESSED];
const MAX_DELIVERY_COUNT = 4;
/** The production maximum, for the batch poison-message case. */
const PRODUCTION_MAX_DELIVERY_COUNT = 10;

let counter = 0;

/** A valid event of each type, unique per call (lead ids and versions differ). */
export function sampleBusEvent(type: EventType, markdown = '# persona\n\nlikes sailing'): TwinEvent {
  counter++;
  const leadId = `contract-lead-${process.pid}-${counter}`;
  const version = `01KB${String(counter).padStart(22, '0')}`;
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, counter % 1000)).toISOString();
  switch (type) {
    case 'twin.saved.v1':
      return createEvent(type, {
        leadId,
        version,
        blobPath: `digital-twins/2026/01/01/${leadId}.md`,
        contentHash: 'a'.repeat(64),
        size: Buffer.byteLength(markdown),
        contentType: 'text/markdown',
        savedAt: at,
        metadata: { classification: 'hot', tags: [], extra: {}, age: 41, income: 52000 },
        markdown,
      });
    case 'twin.deleted.v1':
      return createEvent(type, { leadId, version, deletedAt: at });
    case 'twin.accessed.v1':
      return createEvent(type, { leadId, accessedAt: at });
    case 'twin.tier-changed.v1':
      return createEvent(type, { leadId, version, from: 'hot', to: 'warm', at });
    case 'twin.rehydrated.v1':
      return createEvent(type, { leadId, version, jobId: `${leadId}.${version}`, at });
  }
}

/** Polls until `condition` holds; the failure names what was awaited. */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Call {
  event: TwinEvent;
  context: DeliveryContext;
}

/** A gate a handler can wait on, opened by the test. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/**
 * The behaviour every event bus must have (embedded SQLite, Azure Service Bus, ...): a topic with one
 * peek-lock subscription per consumer, at-least-once delivery, explicit outcomes, retry, dead-lettering,
 * bounded concurrency and draining close. Adapter-specific behaviour (lock expiry after a crash, multi-process
 * competition, malformed bodies) belongs in the adapter's own spec.
 */
export function describeEventBusContract(
  name: string,
  factory: (options: EventBusContractOptions) => Promise<EventBusContractSubject>,
  settings: EventBusContractSettings = {},
): void {
  const timeout = settings.settleTimeoutMs ?? 10_000;

  describe(`EventBus contract: ${name}`, () => {
    let subject: EventBusContractSubject | undefined;
    const running: RunningSubscription[] = [];

    async function open(
      subscriptions: Record<string, readonly EventType[]> = { all: ALL },
      overrides: Partial<Pick<EventBusContractOptions, 'lockDurationMs' | 'maxDeliveryCount'>> = {},
    ): Promise<EventBusContractSubject> {
      subject = await factory({
        subscriptions,
        lockDurationMs: settings.lockDurationMs ?? 5_000,
        maxDeliveryCount: MAX_DELIVERY_COUNT,
        retryBackoff: { baseMs: 5, maxMs: 40 },
        ...overrides,
      });
      return subject;
    }

    function subscribeBatch(
      bus: EventBusContractSubject,
      handler: BatchEventHandler,
      options: Partial<BatchSubscribeOptions> = {},
    ): RunningSubscription {
      const r = bus.subscriber.subscribeBatch('all', handler, {
        concurrency: 1,
        types: ALL,
        maxBatchSize: 10,
        maxBatchWaitMs: 0,
        ...options,
      });
      running.push(r);
      return r;
    }

    /** Records every batch and answers each delivery with `decide`. */
    function batchRecorder(
      decide: (delivery: Delivery, batch: number) => HandlerOutcome | Promise<HandlerOutcome> = () => done(),
    ): { batches: Delivery[][]; handler: BatchEventHandler } {
      const batches: Delivery[][] = [];
      return {
        batches,
        handler: async (deliveries) => {
          const batch = batches.push([...deliveries]) - 1;
          return Promise.all(deliveries.map((d) => decide(d, batch)));
        },
      };
    }

    const deliveriesOf = (batches: Delivery[][], id: string): Delivery[] =>
      batches.flat().filter((d) => d.event.id === id);

    function subscribe(
      bus: EventBusContractSubject,
      subscription: string,
      handler: EventHandler,
      options: SubscribeOptions,
    ): RunningSubscription {
      const r = bus.subscriber.subscribe(subscription, handler, options);
      running.push(r);
      return r;
    }

    /** Records every call and answers with `decide`. */
    function recorder(decide: (call: Call) => HandlerOutcome | Promise<HandlerOutcome> = () => done()): {
      calls: Call[];
      handler: EventHandler;
    } {
      const calls: Call[] = [];
      return {
        calls,
        handler: async (event, context) => {
          const call = { event, context };
          calls.push(call);
          return decide(call);
        },
      };
    }

    async function statsOf(bus: EventBusContractSubject, subscription: string) {
      const found = (await bus.admin.stats()).find((s) => s.subscription === subscription);
      if (!found) throw new Error(`no stats for subscription ${subscription}`);
      return found;
    }

    async function settled(
      bus: EventBusContractSubject,
      subscription: string,
      deadLettered = 0,
    ): Promise<void> {
      await pollUntil(
        async () => {
          const s = await statsOf(bus, subscription);
          return s.active === 0 && s.deadLettered === deadLettered;
        },
        `${subscription} to settle with ${deadLettered} dead letter(s)`,
        timeout,
      );
    }

    afterEach(async () => {
      await Promise.all(running.splice(0).map((r) => r.close(1_000)));
      await subject?.cleanup();
      subject = undefined;
    });

    it('delivers each event to every subscription whose types include it, and to no other', async () => {
      const bus = await open({ all: ALL, saves: [SAVED], accesses: [ACCESSED] });
      const events = [
        sampleBusEvent(SAVED),
        sampleBusEvent(DELETED),
        sampleBusEvent(ACCESSED),
        sampleBusEvent(SAVED),
      ];
      await bus.publisher.publish(events);
      const all = recorder();
      const saves = recorder();
      const accesses = recorder();
      subscribe(bus, 'all', all.handler, { concurrency: 2, types: ALL });
      subscribe(bus, 'saves', saves.handler, { concurrency: 2, types: [SAVED] });
      subscribe(bus, 'accesses', accesses.handler, { concurrency: 2, types: [ACCESSED] });
      await pollUntil(
        () => all.calls.length >= 4 && saves.calls.length >= 2 && accesses.calls.length >= 1,
        'fan-out',
      );
      for (const s of ['all', 'saves', 'accesses']) await settled(bus, s);

      const ids = (calls: Call[]) => calls.map((c) => c.event.id).sort();
      expect(ids(all.calls)).toEqual(events.map((e) => e.id).sort());
      expect(ids(saves.calls)).toEqual([events[0].id, events[3].id].sort());
      expect(ids(accesses.calls)).toEqual([events[2].id]);
    });

    it('hands the handler the published event with its delivery context', async () => {
      const bus = await open();
      const event = sampleBusEvent(SAVED, '# Ada\n\n' + 'x'.repeat(10_000));
      await bus.publisher.publish([event]);
      const r = recorder();
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await pollUntil(() => r.calls.length === 1, 'the delivery');

      expect(r.calls[0].event).toEqual(event);
      expect(r.calls[0].context).toEqual({ subscription: 'all', messageId: event.id, deliveryCount: 1 });
    });

    it('completes on done and on skip: the message is not delivered again', async () => {
      const bus = await open();
      const [a, b] = [sampleBusEvent(SAVED), sampleBusEvent(DELETED)];
      await bus.publisher.publish([a, b]);
      const r = recorder(({ event }) => (event.id === a.id ? done() : skip('not for me')));
      subscribe(bus, 'all', r.handler, { concurrency: 2, types: ALL });
      await pollUntil(() => r.calls.length >= 2, 'both deliveries');
      await settled(bus, 'all');

      expect(r.calls.map((c) => c.event.id).sort()).toEqual([a.id, b.id].sort());
      expect(await bus.admin.listDeadLetters('all')).toEqual([]);
    });

    it('redelivers on retry with a growing delivery count until the handler is done', async () => {
      const bus = await open();
      const event = sampleBusEvent(SAVED);
      await bus.publisher.publish([event]);
      const r = recorder(({ context }) => (context.deliveryCount < 3 ? retry('not yet') : done()));
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await pollUntil(() => r.calls.length >= 3, 'the third delivery');
      await settled(bus, 'all');

      expect(r.calls.map((c) => c.context.deliveryCount)).toEqual([1, 2, 3]);
      expect(r.calls.every((c) => c.context.messageId === event.id)).toBe(true);
    });

    it('treats a handler that throws as a retry', async () => {
      const bus = await open();
      await bus.publisher.publish([sampleBusEvent(ACCESSED)]);
      const r = recorder(({ context }) => {
        if (context.deliveryCount === 1) throw new Error('flaky dependency');
        return done();
      });
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await pollUntil(() => r.calls.length >= 2, 'the redelivery');
      await settled(bus, 'all');

      expect(r.calls.map((c) => c.context.deliveryCount)).toEqual([1, 2]);
    });

    it('dead-letters after exactly maxDeliveryCount deliveries, keeping the last reason', async () => {
      const bus = await open();
      const event = sampleBusEvent(SAVED);
      await bus.publisher.publish([event]);
      const r = recorder(() => retry('downstream unavailable'));
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await settled(bus, 'all', 1);

      expect(r.calls.map((c) => c.context.deliveryCount)).toEqual(
        Array.from({ length: MAX_DELIVERY_COUNT }, (_, i) => i + 1),
      );
      const [letter, ...others] = await bus.admin.listDeadLetters('all');
      expect(others).toEqual([]);
      expect(letter).toMatchObject({
        messageId: event.id,
        subscription: 'all',
        deliveryCount: MAX_DELIVERY_COUNT,
        reason: 'MaxDeliveryCountExceeded',
        description: 'downstream unavailable',
      });
      expect(Number.isNaN(Date.parse(letter.deadLetteredAt))).toBe(false);
      expect(decodeEvent(letter.body)).toEqual(event);
    });

    it('records the class of a thrown error, never its message, as the failure reason', async () => {
      const bus = await open();
      await bus.publisher.publish([sampleBusEvent(SAVED)]);
      const r = recorder(() => {
        throw new TypeError('income 52000 of Ada Lovelace is invalid');
      });
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await settled(bus, 'all', 1);

      const [letter] = await bus.admin.listDeadLetters('all');
      expect(letter.reason).toBe('MaxDeliveryCountExceeded');
      expect(letter.description).toBe('TypeError');
      expect(JSON.stringify({ ...letter, body: undefined })).not.toMatch(/52000|Ada/);
    });

    it('moves a message to the dead letters at once on a dead-letter outcome', async () => {
      const bus = await open();
      const event = sampleBusEvent(DELETED);
      await bus.publisher.publish([event]);
      const r = recorder(() => deadLetter('UnsupportedVersion'));
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await settled(bus, 'all', 1);

      expect(r.calls).toHaveLength(1);
      const [letter] = await bus.admin.listDeadLetters('all');
      expect(letter).toMatchObject({ messageId: event.id, reason: 'UnsupportedVersion', deliveryCount: 1 });
    });

    it('keeps the other messages flowing while one keeps failing', async () => {
      const bus = await open();
      const poison = sampleBusEvent(SAVED);
      const good = Array.from({ length: 30 }, () => sampleBusEvent(ACCESSED));
      await bus.publisher.publish([poison]);
      await bus.publisher.publish(good);
      const r = recorder(({ event }) => (event.id === poison.id ? retry('poison') : done()));
      subscribe(bus, 'all', r.handler, { concurrency: 2, types: ALL });
      await settled(bus, 'all', 1);

      const goodIds = new Set(good.map((e) => e.id));
      expect(r.calls.filter((c) => goodIds.has(c.event.id))).toHaveLength(good.length);
      expect(r.calls.filter((c) => c.event.id === poison.id)).toHaveLength(MAX_DELIVERY_COUNT);
    });

    it('delivers a burst once each when handlers succeed', async () => {
      const bus = await open();
      const events = Array.from({ length: 200 }, (_, i) => sampleBusEvent(i % 2 ? SAVED : ACCESSED));
      await Promise.all([
        bus.publisher.publish(events.slice(0, 100)),
        bus.publisher.publish(events.slice(100)),
      ]);
      const r = recorder();
      subscribe(bus, 'all', r.handler, { concurrency: 8, types: ALL });
      await pollUntil(() => r.calls.length >= events.length, 'every delivery', timeout);
      await settled(bus, 'all');

      expect(r.calls.map((c) => c.event.id).sort()).toEqual(events.map((e) => e.id).sort());
    });

    it('never runs more than `concurrency` handlers at once', async () => {
      const bus = await open();
      await bus.publisher.publish(Array.from({ length: 24 }, () => sampleBusEvent(ACCESSED)));
      let inFlight = 0;
      let maxInFlight = 0;
      let calls = 0;
      subscribe(
        bus,
        'all',
        async () => {
          calls++;
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 5));
          inFlight--;
          return done();
        },
        { concurrency: 3, types: ALL },
      );
      await settled(bus, 'all');

      expect(calls).toBe(24);
      expect(maxInFlight).toBe(3);
    });

    it('reports waiting messages as active per subscription', async () => {
      const bus = await open({ all: ALL, saves: [SAVED] });
      await bus.publisher.publish([sampleBusEvent(SAVED), sampleBusEvent(ACCESSED), sampleBusEvent(DELETED)]);
      await pollUntil(async () => (await statsOf(bus, 'all')).active === 3, 'three active in all', timeout);

      expect(await statsOf(bus, 'all')).toEqual({ subscription: 'all', active: 3, deadLettered: 0 });
      expect(await statsOf(bus, 'saves')).toEqual({ subscription: 'saves', active: 1, deadLettered: 0 });
    });

    it('reports the backlog of the busiest subscription, counted up to atMost, without dead letters', async () => {
      const bus = await open({ all: ALL, saves: [SAVED] });
      expect(await bus.admin.backlog()).toBe(0);
      await bus.publisher.publish([
        sampleBusEvent(SAVED),
        sampleBusEvent(ACCESSED),
        sampleBusEvent(DELETED),
        sampleBusEvent(ACCESSED),
      ]);
      await pollUntil(async () => (await bus.admin.backlog()) === 4, 'a backlog of four', timeout);

      expect(await bus.admin.backlog(2)).toBe(2);
      expect(await bus.admin.backlog(10)).toBe(4);
      subscribe(bus, 'all', async () => deadLetter('Rejected'), { concurrency: 4, types: ALL });
      await settled(bus, 'all', 4);
      // dead letters are not backlog: the busiest is now `saves` with its one waiting message
      expect(await bus.admin.backlog()).toBe(1);
    });

    it('lists dead letters up to the limit', async () => {
      const bus = await open();
      await bus.publisher.publish(Array.from({ length: 3 }, () => sampleBusEvent(ACCESSED)));
      subscribe(bus, 'all', async () => deadLetter('Rejected'), { concurrency: 3, types: ALL });
      await settled(bus, 'all', 3);

      expect(await bus.admin.listDeadLetters('all', { limit: 2 })).toHaveLength(2);
      expect(await bus.admin.listDeadLetters('all')).toHaveLength(3);
    });

    it('close waits for in-flight handlers and settles their outcomes', async () => {
      const bus = await open();
      const event = sampleBusEvent(SAVED);
      await bus.publisher.publish([event]);
      const g = gate();
      let started = false;
      const sub = subscribe(
        bus,
        'all',
        async () => {
          started = true;
          await g.wait;
          return done();
        },
        { concurrency: 1, types: ALL },
      );
      await pollUntil(() => started, 'the handler to start');
      let closed = false;
      const closing = sub.close(timeout).then(() => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed).toBe(false);
      g.open();
      await closing;

      await settled(bus, 'all');
    });

    describe('batches (subscribeBatch)', () => {
      it('hands a handler at most maxBatchSize deliveries per call, each delivery once', async () => {
        const bus = await open();
        const events = Array.from({ length: 25 }, () => sampleBusEvent(ACCESSED));
        await bus.publisher.publish(events);
        const r = batchRecorder();
        subscribeBatch(bus, r.handler, { maxBatchSize: 4, concurrency: 2 });
        await settled(bus, 'all');

        expect(Math.max(...r.batches.map((b) => b.length))).toBeLessThanOrEqual(4);
        expect(
          r.batches
            .flat()
            .map((d) => d.event.id)
            .sort(),
        ).toEqual(events.map((e) => e.id).sort());
        expect(r.batches.flat().every((d) => d.context.deliveryCount === 1)).toBe(true);
      });

      it('hands over a partial batch that never fills', async () => {
        const bus = await open();
        const events = [sampleBusEvent(SAVED), sampleBusEvent(DELETED), sampleBusEvent(ACCESSED)];
        await bus.publisher.publish(events);
        const r = batchRecorder();
        subscribeBatch(bus, r.handler, { maxBatchSize: 100, maxBatchWaitMs: 50 });
        await settled(bus, 'all');

        expect(
          r.batches
            .flat()
            .map((d) => d.event.id)
            .sort(),
        ).toEqual(events.map((e) => e.id).sort());
      });

      it('hands the published events with their delivery contexts', async () => {
        const bus = await open();
        const event = sampleBusEvent(SAVED, '# Ada\n\n' + 'x'.repeat(10_000));
        await bus.publisher.publish([event]);
        const r = batchRecorder();
        subscribeBatch(bus, r.handler);
        await settled(bus, 'all');

        expect(r.batches).toEqual([
          [{ event, context: { subscription: 'all', messageId: event.id, deliveryCount: 1 } }],
        ]);
      });

      it('settles each delivery of a batch by its own outcome', async () => {
        const bus = await open();
        const [completed, skipped, rejected, retried] = [
          sampleBusEvent(SAVED),
          sampleBusEvent(DELETED),
          sampleBusEvent(ACCESSED),
          sampleBusEvent(SAVED),
        ];
        await bus.publisher.publish([completed, skipped, rejected, retried]);
        const r = batchRecorder(({ event, context }) => {
          if (event.id === skipped.id) return skip('not for me');
          if (event.id === rejected.id) return deadLetter('UnsupportedVersion');
          if (event.id === retried.id && context.deliveryCount === 1) return retry('not yet');
          return done();
        });
        subscribeBatch(bus, r.handler, { maxBatchWaitMs: 200 });
        await settled(bus, 'all', 1);

        for (const once of [completed, skipped, rejected]) {
          expect(deliveriesOf(r.batches, once.id)).toHaveLength(1);
        }
        expect(deliveriesOf(r.batches, retried.id).map((d) => d.context.deliveryCount)).toEqual([1, 2]);
        const letters = await bus.admin.listDeadLetters('all');
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({ messageId: rejected.id, reason: 'UnsupportedVersion' });
      });

      it('dead-letters a poison message alone after maxDeliveryCount while the rest of its batches complete once', async () => {
        const bus = await open({ all: ALL }, { maxDeliveryCount: PRODUCTION_MAX_DELIVERY_COUNT });
        const poison = sampleBusEvent(SAVED);
        const good = Array.from({ length: 30 }, () => sampleBusEvent(ACCESSED));
        await bus.publisher.publish([poison, ...good.slice(0, 15)]);
        await bus.publisher.publish(good.slice(15));
        const r = batchRecorder(({ event }) => (event.id === poison.id ? retry('poison') : done()));
        subscribeBatch(bus, r.handler, { maxBatchSize: 8, concurrency: 2 });
        await settled(bus, 'all', 1);

        expect(deliveriesOf(r.batches, poison.id).map((d) => d.context.deliveryCount)).toEqual(
          Array.from({ length: PRODUCTION_MAX_DELIVERY_COUNT }, (_, i) => i + 1),
        );
        for (const e of good) expect(deliveriesOf(r.batches, e.id)).toHaveLength(1);
        const [letter, ...others] = await bus.admin.listDeadLetters('all');
        expect(others).toEqual([]);
        expect(letter).toMatchObject({
          messageId: poison.id,
          deliveryCount: PRODUCTION_MAX_DELIVERY_COUNT,
          reason: 'MaxDeliveryCountExceeded',
          description: 'poison',
        });
      });

      it('retries every delivery of a batch whose handler throws', async () => {
        const bus = await open();
        const events = Array.from({ length: 5 }, () => sampleBusEvent(ACCESSED));
        await bus.publisher.publish(events);
        let calls = 0;
        const r = batchRecorder();
        subscribeBatch(
          bus,
          async (deliveries) => {
            if (++calls === 1) {
              r.batches.push([...deliveries]);
              throw new TypeError('income 52000 of Ada Lovelace is invalid');
            }
            return r.handler(deliveries);
          },
          { maxBatchWaitMs: 200 },
        );
        await settled(bus, 'all');

        const failed = r.batches[0];
        expect(failed.length).toBeGreaterThan(0);
        for (const d of failed) {
          expect(deliveriesOf(r.batches, d.event.id).map((x) => x.context.deliveryCount)).toEqual([1, 2]);
        }
        const failedIds = new Set(failed.map((d) => d.event.id));
        for (const e of events.filter((x) => !failedIds.has(x.id))) {
          expect(deliveriesOf(r.batches, e.id)).toHaveLength(1);
        }
      });

      it.runIf(settings.batchesInPublishOrder)(
        'hands deliveries in publish order within a batch and, with concurrency 1, across batches',
        async () => {
          const bus = await open();
          const events = Array.from({ length: 40 }, (_, i) => sampleBusEvent(i % 3 ? ACCESSED : SAVED));
          await bus.publisher.publish(events.slice(0, 20));
          await bus.publisher.publish(events.slice(20));
          const r = batchRecorder();
          subscribeBatch(bus, r.handler, { maxBatchSize: 7, concurrency: 1 });
          await settled(bus, 'all');

          expect(r.batches.flat().map((d) => d.event.id)).toEqual(events.map((e) => e.id));
        },
      );

      it('never runs more than `concurrency` batches at once', async () => {
        const bus = await open();
        await bus.publisher.publish(Array.from({ length: 24 }, () => sampleBusEvent(ACCESSED)));
        let inFlight = 0;
        let maxInFlight = 0;
        let handled = 0;
        subscribeBatch(
          bus,
          async (deliveries) => {
            handled += deliveries.length;
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((resolve) => setTimeout(resolve, 5));
            inFlight--;
            return deliveries.map(() => done());
          },
          { maxBatchSize: 3, concurrency: 2 },
        );
        await settled(bus, 'all');

        expect(handled).toBe(24);
        expect(maxInFlight).toBeLessThanOrEqual(2);
      });

      it('close waits for in-flight batches and settles their outcomes', async () => {
        const bus = await open();
        const events = Array.from({ length: 5 }, () => sampleBusEvent(SAVED));
        await bus.publisher.publish(events);
        const g = gate();
        const r = batchRecorder(async () => {
          await g.wait;
          return done();
        });
        const sub = subscribeBatch(bus, r.handler, { maxBatchSize: 10, maxBatchWaitMs: 200 });
        await pollUntil(() => r.batches.length > 0, 'the first batch to start');
        let closed = false;
        const closing = sub.close(timeout).then(() => (closed = true));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(closed).toBe(false);
        g.open();
        await closing;

        const first = r.batches[0];
        const r2 = batchRecorder();
        subscribeBatch(bus, r2.handler);
        await settled(bus, 'all');
        // What the closed subscription handled was completed: none of it comes back.
        const again = new Set(r2.batches.flat().map((d) => d.event.id));
        expect(first.filter((d) => again.has(d.event.id))).toEqual([]);
      });

      it('keeps the locks of a batch held longer than the lock duration', async () => {
        const lockDurationMs = 1_000;
        const bus = await open({ all: ALL }, { lockDurationMs });
        const events = Array.from({ length: 3 }, () => sampleBusEvent(ACCESSED));
        await bus.publisher.publish(events);
        const r = batchRecorder(async (_d, batch) => {
          if (batch === 0) await new Promise((resolve) => setTimeout(resolve, lockDurationMs * 2.5));
          return done();
        });
        subscribeBatch(bus, r.handler, { maxBatchSize: 10, maxBatchWaitMs: 200, concurrency: 2 });
        await pollUntil(() => r.batches.length > 0, 'the first batch');
        await settled(bus, 'all');

        for (const e of events) expect(deliveriesOf(r.batches, e.id)).toHaveLength(1);
      });
    });

    it('close gives up at its deadline and releases the message for redelivery', async () => {
      const bus = await open();
      const event = sampleBusEvent(SAVED);
      await bus.publisher.publish([event]);
      const stuck = gate();
      let started = false;
      const sub = subscribe(
        bus,
        'all',
        async () => {
          started = true;
          await stuck.wait;
          return done();
        },
        { concurrency: 1, types: ALL },
      );
      await pollUntil(() => started, 'the handler to start');
      const before = Date.now();
      await sub.close(100);
      expect(Date.now() - before).toBeLessThan(Math.min(timeout, 5_000));

      const r = recorder();
      subscribe(bus, 'all', r.handler, { concurrency: 1, types: ALL });
      await pollUntil(() => r.calls.length === 1, 'the redelivery', timeout);
      expect(r.calls[0].context).toMatchObject({ messageId: event.id, deliveryCount: 2 });
      stuck.open();
      await settled(bus, 'all');
    });
  });
}
