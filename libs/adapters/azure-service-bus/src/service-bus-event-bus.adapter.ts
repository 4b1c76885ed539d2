import { randomUUID } from 'node:crypto';
import {
  ServiceBusClient,
  ServiceBusClientOptions,
  ServiceBusMessage,
  ServiceBusMessageBatch,
  ServiceBusReceivedMessage,
  ServiceBusSender,
} from '@azure/service-bus';
import type { TokenCredential } from '@azure/core-auth';
import {
  BatchEventHandler,
  BatchSubscribeOptions,
  BillingMeter,
  DeadLetteredMessage,
  EventBusAdmin,
  EventHandler,
  EventPublisher,
  EventSubscriber,
  MAX_DELIVERY_COUNT,
  RunningSubscription,
  SubscribeOptions,
  SubscriptionStats,
} from '@twinstore/application';
import { EventType, TOPIC, TwinEvent } from '@twinstore/contracts';
import { BUS_PROPERTY, envelopeOf, toServiceBusMessage } from './cloud-event-message.mapping';
import { MAX_DELIVERY_COUNT_EXCEEDED } from './failure-reason';
import {
  BackoffRange,
  DEFAULT_CLOSE_DEADLINE_MS,
  deliveryNumber,
  EventBusLogger,
  MAX_UNSETTLED,
  RunnerMode,
  ServiceBusSubscriptionRunner,
  silentLogger,
} from './service-bus-subscription.runner';
import { syncSubscriptionRules } from './subscription-rules';
import {
  peekAll,
  PeekStatsSource,
  RuntimePropertiesStatsSource,
  SubscriptionStatsSource,
} from './subscription-stats';

export interface ServiceBusEventBusOptions {
  /** A namespace connection string (SAS key), or use `fullyQualifiedNamespace` with `credential`. */
  connectionString?: string;
  /** e.g. `twinstore.servicebus.windows.net`, with `credential` (DefaultAzureCredential or another). */
  fullyQualifiedNamespace?: string;
  credential?: TokenCredential;
  /** Default `twin-events`. */
  topic?: string;
  /** Subscription name -> the event types it receives. */
  subscriptions: Record<string, readonly EventType[]>;
  /**
   * Where `stats()` counts come from: `runtime-properties` (the administration client, HTTP, Manage rights)
   * or `peek` (peeks every message over AMQP; small backlogs only). Default: `peek` when the connection
   * string says `UseDevelopmentEmulator=true` (no HTTP endpoint there), else `runtime-properties`.
   */
  stats?: 'runtime-properties' | 'peek' | SubscriptionStatsSource;
  /** Make each subscription's rules route exactly its event types, at open. Default true. */
  syncRules?: boolean;
  /** The subscriptions' max delivery count (the adapter dead-letters the last delivery itself). Default 10. */
  maxDeliveryCount?: number;
  /** Delay before a retried message goes back, held under lock. Default 100 ms .. 5 s. */
  retryBackoff?: BackoffRange;
  /** How long a running handler's lock is renewed. Default 5 minutes. */
  maxLockRenewalMs?: number;
  /** Pause after `ServiceBusy`. Default 2 s. */
  busyBackoffMs?: number;
  logger?: EventBusLogger;
  clientOptions?: ServiceBusClientOptions;
  /** Counts billable operations (twins_billable_operations_total): sends per message, receives, settlements. */
  meter?: BillingMeter;
}

interface Settings {
  topic: string;
  subscriptions: Record<string, readonly EventType[]>;
  maxDeliveryCount: number;
  retryBackoff: BackoffRange;
  maxLockRenewalMs: number;
  busyBackoffMs: number;
  logger: EventBusLogger;
  meter?: BillingMeter;
}

const DEFAULT_DEAD_LETTER_LIMIT = 100;
/** Service Bus caps a batch at 256 KB on Standard and 1 MB on Premium, whatever larger messages a link allows. */
const MAX_BATCH_BYTES = 1024 * 1024;
/** How long a receive from a dead-letter queue waits for messages a peek has just seen. */
const RECEIVE_WAIT_MS = 5_000;

/**
 * The event bus on Azure Service Bus: one topic, a subscription per consumer with its own dead-letter queue,
 * CloudEvents in binary mode, peek-lock with explicit settlement of every message.
 */
export class ServiceBusEventBus implements EventPublisher, EventSubscriber, EventBusAdmin {
  private readonly runners = new Set<ServiceBusSubscriptionRunner>();
  private sender: ServiceBusSender | undefined;
  /** Set when the link allows messages larger than a batch may be: batches are then created this large. */
  private batchBytes: number | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly client: ServiceBusClient,
    private readonly statsSource: SubscriptionStatsSource,
    private readonly settings: Settings,
  ) {}

  get topic(): string {
    return this.settings.topic;
  }

  /** Durable once resolved (Service Bus accepted every batch). Batches respect the link's size limit. */
  async publish(events: TwinEvent[]): Promise<void> {
    this.assertOpen();
    await this.sendAll(events.map(toServiceBusMessage));
  }

  /**
   * Sends a message as it is, without encoding or validation: for tests and tools that must inject a
   * malformed message. The message should carry a `messageId` (duplicate detection).
   */
  async publishRaw(message: ServiceBusMessage): Promise<void> {
    this.assertOpen();
    await this.sendAll([message]);
  }

  subscribe(subscription: string, handler: EventHandler, options: SubscribeOptions): RunningSubscription {
    return this.run(subscription, { kind: 'stream', handler }, options);
  }

  /**
   * Batches come from `receiveMessages(maxBatchSize)` in peek-lock: a partial batch is handed over after at
   * most `maxBatchWaitMs` (plus a round trip). Without sessions Service Bus keeps no order, so neither the
   * messages of a batch nor the batches follow publish order.
   */
  subscribeBatch(
    subscription: string,
    handler: BatchEventHandler,
    options: BatchSubscribeOptions,
  ): RunningSubscription {
    assertPositiveInteger('maxBatchSize', options.maxBatchSize);
    if (!(options.maxBatchWaitMs >= 0)) {
      throw new Error(`maxBatchWaitMs must be 0 or more, got ${options.maxBatchWaitMs}`);
    }
    return this.run(
      subscription,
      {
        kind: 'batch',
        handler,
        maxBatchSize: Math.min(options.maxBatchSize, MAX_UNSETTLED),
        maxBatchWaitMs: options.maxBatchWaitMs,
      },
      options,
    );
  }

  stats(): Promise<SubscriptionStats[]> {
    return this.statsSource.stats(this.settings.topic, Object.keys(this.settings.subscriptions));
  }

  async backlog(atMost?: number): Promise<number> {
    const subscriptions = Object.keys(this.settings.subscriptions);
    if (this.statsSource.backlog) return this.statsSource.backlog(this.settings.topic, subscriptions, atMost);
    const busiest = Math.max(0, ...(await this.stats()).map((s) => s.active));
    return atMost === undefined ? busiest : Math.min(atMost, busiest);
  }

  /** The first `limit` dead letters (default 100), by peeking the dead-letter queue. */
  async listDeadLetters(
    subscription: string,
    options: { limit?: number } = {},
  ): Promise<DeadLetteredMessage[]> {
    const limit = options.limit ?? DEFAULT_DEAD_LETTER_LIMIT;
    const letters: DeadLetteredMessage[] = [];
    if (limit <= 0) return letters;
    await peekAll(this.client, this.settings.topic, subscription, true, limit, (m) => {
      letters.push(toDeadLetter(subscription, m));
      return letters.length < limit;
    });
    return letters;
  }

  /**
   * Sends dead letters (all, or those with the given message ids) back to this subscription alone, then
   * removes them from the dead-letter queue; returns how many. A redriven message gets a new message id (the
   * old one may still be in the duplicate-detection window); the event id is unchanged. Dead letters that
   * arrive during the pass wait for the next one.
   */
  async redrive(subscription: string, messageIds?: readonly string[]): Promise<number> {
    this.assertOpen();
    const chosen = messageIds === undefined ? undefined : new Set(messageIds);
    // A peek first says how many to receive, so no receive waits out its timeout on an empty queue.
    const present: ServiceBusReceivedMessage[] = [];
    await peekAll(this.client, this.settings.topic, subscription, true, Infinity, (m) => present.push(m) > 0);
    const wanted = new Set(
      present.filter((m) => !chosen || chosen.has(String(m.messageId))).map((m) => String(m.sequenceNumber)),
    );
    if (wanted.size === 0) return 0;
    const receiver = this.client.createReceiver(this.settings.topic, subscription, {
      subQueueType: 'deadLetter',
      receiveMode: 'peekLock',
      skipParsingBodyAsJson: true,
    });
    const kept: ServiceBusReceivedMessage[] = [];
    let moved = 0;
    let left = present.length;
    try {
      while (wanted.size > 0 && left > 0) {
        const batch = await receiver.receiveMessages(Math.min(100, left), {
          maxWaitTimeInMs: RECEIVE_WAIT_MS,
        });
        if (batch.length === 0) break;
        left -= batch.length;
        const take = batch.filter((m) => wanted.delete(String(m.sequenceNumber)));
        // Messages not chosen stay locked until the pass ends, so the next batch brings new ones.
        kept.push(...batch.filter((m) => !take.includes(m)));
        if (take.length === 0) continue;
        await this.sendAll(take.map((m) => redriven(m, subscription)));
        for (const m of take) await receiver.completeMessage(m);
        moved += take.length;
      }
      for (const m of kept) await receiver.abandonMessage(m);
    } finally {
      await receiver.close();
    }
    return moved;
  }

  /** Deletes the dead letters the subscription has now; returns how many. */
  async purgeDeadLetters(subscription: string): Promise<number> {
    this.assertOpen();
    let left = 0;
    await peekAll(this.client, this.settings.topic, subscription, true, Infinity, () => ++left > 0);
    if (left === 0) return 0;
    const receiver = this.client.createReceiver(this.settings.topic, subscription, {
      subQueueType: 'deadLetter',
      receiveMode: 'receiveAndDelete',
      skipParsingBodyAsJson: true,
    });
    let purged = 0;
    try {
      while (purged < left) {
        const batch = await receiver.receiveMessages(Math.min(250, left - purged), {
          maxWaitTimeInMs: RECEIVE_WAIT_MS,
        });
        if (batch.length === 0) break;
        purged += batch.length;
      }
    } finally {
      await receiver.close();
    }
    return purged;
  }

  /** Closes every running subscription (draining in-flight handlers), then the sender and the connection. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * One `sendMessages` per batch: messages go into a batch until `tryAddMessage` refuses, then it is sent and a
   * new one started. A batch is as large as the link allows, capped at what Service Bus accepts in a batch; a
   * message larger than that cap (Premium large messages) goes alone.
   */
  private async sendAll(messages: ServiceBusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    this.sender ??= this.client.createSender(this.settings.topic);
    const sender = this.sender;
    let batch = await this.newBatch(sender);
    for (const message of messages) {
      if (batch.tryAddMessage(message)) continue;
      if (batch.count > 0) {
        await this.sendBatch(sender, batch);
        batch = await this.newBatch(sender);
        if (batch.tryAddMessage(message)) continue;
      }
      if (this.batchBytes !== undefined) {
        this.settings.meter?.record('serviceBus', 'send', 'none');
        // Larger than any batch may be: the link still takes it alone if it allows messages this large.
        await sender.sendMessages(message);
        continue;
      }
      throw new Error(
        `message ${String(message.messageId)} is larger than the link allows (${batch.maxSizeInBytes} bytes)`,
      );
    }
    if (batch.count > 0) await this.sendBatch(sender, batch);
  }

  private async sendBatch(sender: ServiceBusSender, batch: ServiceBusMessageBatch): Promise<void> {
    this.settings.meter?.record('serviceBus', 'send', 'none', batch.count);
    await sender.sendMessages(batch);
  }

  /** The first batch learns the link's limit; when it exceeds MAX_BATCH_BYTES, later batches are capped. */
  private async newBatch(sender: ServiceBusSender): Promise<ServiceBusMessageBatch> {
    if (this.batchBytes !== undefined) return sender.createMessageBatch({ maxSizeInBytes: this.batchBytes });
    const batch = await sender.createMessageBatch();
    if (batch.maxSizeInBytes <= MAX_BATCH_BYTES) return batch;
    this.batchBytes = MAX_BATCH_BYTES;
    return sender.createMessageBatch({ maxSizeInBytes: MAX_BATCH_BYTES });
  }

  private run(subscription: string, mode: RunnerMode, options: SubscribeOptions): RunningSubscription {
    this.assertOpen();
    assertPositiveInteger('concurrency', options.concurrency);
    const configured = this.settings.subscriptions[subscription];
    if (!configured) throw new Error(`subscription ${subscription} is not registered on this bus`);
    const wanted = [...new Set(options.types)].sort();
    const registered = [...new Set(configured)].sort();
    if (wanted.join(',') !== registered.join(',')) {
      // The rules route what the bus was opened with: a different list would silently lose messages.
      throw new Error(
        `subscription ${subscription} receives [${registered.join(', ')}], subscriber asked for [${wanted.join(', ')}]`,
      );
    }
    const runner = new ServiceBusSubscriptionRunner({
      client: this.client,
      topic: this.settings.topic,
      subscription,
      mode,
      concurrency: options.concurrency,
      types: new Set(wanted),
      maxDeliveryCount: this.settings.maxDeliveryCount,
      retryBackoff: this.settings.retryBackoff,
      maxLockRenewalMs: this.settings.maxLockRenewalMs,
      busyBackoffMs: this.settings.busyBackoffMs,
      logger: this.settings.logger,
      meter: this.settings.meter,
      onClosed: (r) => this.runners.delete(r),
    });
    this.runners.add(runner);
    return runner;
  }

  private assertOpen(): void {
    if (this.closing) throw new Error('event bus is closed');
  }

  private async shutdown(): Promise<void> {
    await Promise.all([...this.runners].map((r) => r.close(DEFAULT_CLOSE_DEADLINE_MS)));
    await this.sender?.close();
    await this.client.close();
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`);
}

function toDeadLetter(subscription: string, m: ServiceBusReceivedMessage): DeadLetteredMessage {
  const props = m.applicationProperties ?? {};
  const reason = m.deadLetterReason ?? 'Unknown';
  const recordedDeliveries = props[BUS_PROPERTY.deliveries];
  // Dead-lettered by the broker after the maximum: every delivery failed, so the failure count is the total.
  const deliveryCount =
    typeof recordedDeliveries === 'number'
      ? recordedDeliveries
      : reason === MAX_DELIVERY_COUNT_EXCEEDED
        ? (m.deliveryCount ?? 0)
        : deliveryNumber(m);
  const retryReason = props[BUS_PROPERTY.retryReason];
  const description =
    typeof recordedDeliveries !== 'number' &&
    reason === MAX_DELIVERY_COUNT_EXCEEDED &&
    typeof retryReason === 'string'
      ? retryReason
      : m.deadLetterErrorDescription;
  const at = props[BUS_PROPERTY.deadLetteredAt];
  const { envelope } = envelopeOf(m);
  if (!('data' in envelope)) envelope.data = Buffer.isBuffer(m.body) ? m.body.toString('utf8') : m.body;
  return {
    messageId: String(m.messageId),
    subscription,
    deliveryCount,
    reason,
    ...(description !== undefined ? { description } : {}),
    deadLetteredAt: typeof at === 'string' ? at : (m.enqueuedTimeUtc ?? new Date(0)).toISOString(),
    // The structured-mode JSON of the event (what decodeEvent reads), as the embedded bus stores it.
    body: JSON.stringify(envelope),
  };
}

function redriven(m: ServiceBusReceivedMessage, subscription: string): ServiceBusMessage {
  const {
    DeadLetterReason: _reason,
    DeadLetterErrorDescription: _description,
    [BUS_PROPERTY.deliveries]: _deliveries,
    [BUS_PROPERTY.deadLetteredAt]: _at,
    [BUS_PROPERTY.retryReason]: _retry,
    ...props
  } = m.applicationProperties ?? {};
  return {
    messageId: randomUUID(),
    // No subject: the type rules of other subscriptions must not take it; the redrive rule routes it.
    contentType: m.contentType,
    body: m.body,
    applicationProperties: { ...props, [BUS_PROPERTY.redriveTo]: subscription },
  };
}

/** Opens the bus: connects and, unless told not to, makes each subscription's rules route its event types. */
export async function createServiceBusEventBus(
  options: ServiceBusEventBusOptions,
): Promise<ServiceBusEventBus> {
  const topic = options.topic ?? TOPIC;
  const logger = options.logger ?? silentLogger;
  const client = connect(options);
  try {
    if (options.syncRules ?? true) {
      for (const [subscription, types] of Object.entries(options.subscriptions)) {
        const result = await syncSubscriptionRules(client, topic, subscription, types);
        if ('skipped' in result) {
          logger.warn(
            { topic, subscription, code: result.skipped },
            'subscription rules not synced; unwanted types are completed unhandled',
          );
        }
      }
    }
    const settings: Settings = {
      topic,
      subscriptions: options.subscriptions,
      maxDeliveryCount: options.maxDeliveryCount ?? MAX_DELIVERY_COUNT,
      retryBackoff: options.retryBackoff ?? { baseMs: 100, maxMs: 5_000 },
      maxLockRenewalMs: options.maxLockRenewalMs ?? 5 * 60_000,
      busyBackoffMs: options.busyBackoffMs ?? 2_000,
      logger,
      meter: options.meter,
    };
    if (!(settings.maxDeliveryCount >= 1)) throw new Error('maxDeliveryCount must be at least 1');
    if (settings.retryBackoff.baseMs < 0 || settings.retryBackoff.maxMs < settings.retryBackoff.baseMs) {
      throw new Error('retryBackoff needs 0 <= baseMs <= maxMs');
    }
    return new ServiceBusEventBus(client, statsSourceFor(options, client), settings);
  } catch (error) {
    await client.close();
    throw error;
  }
}

function connect(options: ServiceBusEventBusOptions): ServiceBusClient {
  if (options.connectionString) return new ServiceBusClient(options.connectionString, options.clientOptions);
  if (options.fullyQualifiedNamespace && options.credential) {
    return new ServiceBusClient(options.fullyQualifiedNamespace, options.credential, options.clientOptions);
  }
  throw new Error('Service Bus needs a connectionString, or a fullyQualifiedNamespace with a credential');
}

function statsSourceFor(
  options: ServiceBusEventBusOptions,
  client: ServiceBusClient,
): SubscriptionStatsSource {
  const choice =
    options.stats ?? (isDevelopmentEmulator(options.connectionString) ? 'peek' : 'runtime-properties');
  if (typeof choice === 'object') return choice;
  if (choice === 'peek') return new PeekStatsSource(client);
  if (options.connectionString)
    return RuntimePropertiesStatsSource.fromConnection({ connectionString: options.connectionString });
  return RuntimePropertiesStatsSource.fromConnection({
    fullyQualifiedNamespace: options.fullyQualifiedNamespace!,
    credential: options.credential!,
  });
}

function isDevelopmentEmulator(connectionString: string | undefined): boolean {
  return /(^|;)\s*UseDevelopmentEmulator\s*=\s*true\s*(;|$)/i.test(connectionString ?? '');
}
