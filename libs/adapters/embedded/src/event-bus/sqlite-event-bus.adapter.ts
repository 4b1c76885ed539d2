import { randomUUID } from 'node:crypto';
import {
  BatchEventHandler,
  BatchSubscribeOptions,
  DeadLetteredMessage,
  EventBusAdmin,
  EventHandler,
  EventPublisher,
  EventSubscriber,
  RunningSubscription,
  SubscribeOptions,
  SubscriptionStats,
} from '@twinstore/application';
import { encodeEvent, EventType, TwinEvent } from '@twinstore/contracts';
import { openSqlite, SqliteDatabase } from '../sqlite';
import { WalSync } from '../wal-sync';
import { BackoffRange, PollRange } from './backoff';
import { OutgoingMessage, SqliteDeliveryStore } from './sqlite-delivery.store';
import {
  EventBusLogger,
  oneByOne,
  silentLogger,
  SqliteSubscriptionRunner,
} from './sqlite-subscription.runner';

export interface SqliteEventBusOptions {
  /** The bus database; several processes may open the same file. */
  file: string;
  /** Subscription name -> the event types it receives; registered (or updated) in the file at open. */
  subscriptions: Record<string, readonly EventType[]>;
  /** How long a claimed delivery stays invisible to other consumers without renewal. Default 60 s. */
  lockDurationMs?: number;
  /** A delivery that would exceed this goes to the dead-letter state. Default 10. */
  maxDeliveryCount?: number;
  /** Delay before a failed delivery is retried: exponential with jitter. Default 200 ms .. 30 s. */
  retryBackoff?: BackoffRange;
  /** Idle polling backs off from min to max and resets when messages arrive. Default 20 .. 250 ms. */
  pollIntervalMs?: PollRange;
  /** Most deliveries claimed in one transaction. Default 64. */
  batchSize?: number;
  /**
   * WAL size (pages) at which a commit of this connection checkpoints. Default SQLite's 1000. Larger writes
   * less (a page freed and reused within one WAL generation is checkpointed once: 2.0 -> 1.6 bytes written per
   * body byte at 10,000 in the bench) but makes each checkpoint, which runs on the event loop, that much longer.
   */
  walAutocheckpointPages?: number;
  logger?: EventBusLogger;
}

const DEFAULTS = {
  lockDurationMs: 60_000,
  maxDeliveryCount: 10,
  retryBackoff: { baseMs: 200, maxMs: 30_000 },
  pollIntervalMs: { min: 20, max: 250 },
  batchSize: 64,
};

const DEFAULT_DEAD_LETTER_LIMIT = 100;
/** Publish calls committed in one transaction at most; more wait for the next turn of the event loop. */
const MAX_PUBLISHES_PER_COMMIT = 256;

interface PendingPublish {
  messages: OutgoingMessage[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A durable topic in a SQLite file, with one peek-lock subscription per consumer (Service Bus semantics):
 * at-least-once, lock renewal, retry with backoff, dead-lettering after `maxDeliveryCount`, multi-process safe.
 */
export class SqliteEventBus implements EventPublisher, EventSubscriber, EventBusAdmin {
  private readonly runners = new Set<SqliteSubscriptionRunner>();
  private pending: PendingPublish[] = [];
  private flushScheduled = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly store: SqliteDeliveryStore,
    private readonly settings: Required<
      Omit<SqliteEventBusOptions, 'file' | 'subscriptions' | 'walAutocheckpointPages'>
    >,
    private readonly wal: WalSync,
  ) {}

  /**
   * Durable (fsynced) once resolved. Calls in the same turn of the event loop share one transaction, and
   * transactions committed while a WAL fsync runs share the next one (group commit, off the event loop).
   */
  publish(events: TwinEvent[]): Promise<void> {
    return this.enqueue(events.map((e) => ({ messageId: e.id, type: e.type, body: encodeEvent(e) })));
  }

  /**
   * Publishes a body as it is, routed as `type`, without encoding or validation: for tests and tools that must
   * inject a malformed message. Returns the message id.
   */
  async publishRaw(type: string, body: string, messageId: string = randomUUID()): Promise<string> {
    await this.enqueue([{ messageId, type, body }]);
    return messageId;
  }

  subscribe(subscription: string, handler: EventHandler, options: SubscribeOptions): RunningSubscription {
    return this.subscribeBatch(subscription, oneByOne(handler), {
      ...options,
      maxBatchSize: 1,
      maxBatchWaitMs: 0,
    });
  }

  /**
   * Deliveries of a batch come in publish (seq) order; with concurrency 1, batches follow each other in that
   * order too (a retried delivery comes back in a later batch).
   */
  subscribeBatch(
    subscription: string,
    handler: BatchEventHandler,
    options: BatchSubscribeOptions,
  ): RunningSubscription {
    if (this.closing) throw new Error('event bus is closed');
    assertPositiveInteger('concurrency', options.concurrency);
    assertPositiveInteger('maxBatchSize', options.maxBatchSize);
    if (!(options.maxBatchWaitMs >= 0)) {
      throw new Error(`maxBatchWaitMs must be 0 or more, got ${options.maxBatchWaitMs}`);
    }
    const registered = this.store.subscriptionTypes(subscription);
    if (registered === undefined)
      throw new Error(`subscription ${subscription} is not registered on this bus`);
    const wanted = [...new Set(options.types)].sort();
    if (wanted.join(',') !== registered.join(',')) {
      // Deliveries are routed at publish time from the registered list: a different list here would silently
      // lose or mis-deliver messages.
      throw new Error(
        `subscription ${subscription} receives [${registered.join(', ')}], subscriber asked for [${wanted.join(', ')}]`,
      );
    }
    const runner = new SqliteSubscriptionRunner({
      store: this.store,
      subscription,
      handler,
      concurrency: options.concurrency,
      maxBatchSize: options.maxBatchSize,
      maxBatchWaitMs: options.maxBatchWaitMs,
      types: new Set(wanted),
      ...this.settings,
      onClosed: (r) => this.runners.delete(r),
    });
    this.runners.add(runner);
    return runner;
  }

  async stats(): Promise<SubscriptionStats[]> {
    return this.store.stats();
  }

  /** A bounded index walk per subscription: cheap enough to sample every second from the API process. */
  async backlog(atMost?: number): Promise<number> {
    return this.store.backlog(atMost);
  }

  async listDeadLetters(
    subscription: string,
    options: { limit?: number } = {},
  ): Promise<DeadLetteredMessage[]> {
    return this.store
      .listDeadLetters(subscription, options.limit ?? DEFAULT_DEAD_LETTER_LIMIT)
      .map((row) => ({
        messageId: row.messageId,
        subscription: row.subscription,
        deliveryCount: row.deliveryCount,
        reason: row.reason,
        ...(row.description !== null ? { description: row.description } : {}),
        deadLetteredAt: new Date(row.deadLetteredAt).toISOString(),
        body: row.body,
      }));
  }

  /** Moves dead letters (all, or those with the given message ids) back, with a fresh delivery count. */
  async redrive(subscription: string, messageIds?: readonly string[]): Promise<number> {
    const moved = this.store.redrive(subscription, messageIds, Date.now());
    for (const runner of this.runners) if (runner.subscription === subscription) runner.poke();
    return moved;
  }

  async purgeDeadLetters(subscription: string): Promise<number> {
    return this.store.purgeDeadLetters(subscription);
  }

  /** Closes every running subscription (draining in-flight handlers), commits pending publishes, closes the file. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private enqueue(messages: OutgoingMessage[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error('event bus is closed'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ messages, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushPublishes());
  }

  /**
   * Commits the pending calls (in call order, at most MAX_PUBLISHES_PER_COMMIT) in one transaction without an
   * fsync, then answers them after the WAL fsync that follows. A failed transaction rejects every call of the
   * batch and commits none of them; a failed fsync rejects them too (committed, but not known durable).
   */
  private flushPublishes(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0, MAX_PUBLISHES_PER_COMMIT);
    if (batch.length === 0) return Promise.resolve();
    if (this.pending.length > 0) this.scheduleFlush();
    const messages = batch.flatMap((p) => p.messages);
    try {
      this.store.append(messages, Date.now());
    } catch (error) {
      for (const p of batch) p.reject(error);
      return Promise.resolve();
    }
    return this.wal.sync().then(
      () => {
        for (const p of batch) p.resolve();
        const types = new Set(messages.map((m) => m.type));
        for (const runner of this.runners) runner.notify(types);
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
      },
    );
  }

  private async shutdown(): Promise<void> {
    await Promise.all([...this.runners].map((r) => r.close()));
    const flushes: Promise<void>[] = [];
    while (this.pending.length > 0) flushes.push(this.flushPublishes());
    await Promise.all(flushes);
    await this.wal.idle();
    this.db.close();
  }
}

/** Opens (creating if needed) the bus file and registers the given subscriptions in it. */
export function openSqliteEventBus(options: SqliteEventBusOptions): SqliteEventBus {
  const settings = {
    lockDurationMs: options.lockDurationMs ?? DEFAULTS.lockDurationMs,
    maxDeliveryCount: options.maxDeliveryCount ?? DEFAULTS.maxDeliveryCount,
    retryBackoff: options.retryBackoff ?? DEFAULTS.retryBackoff,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    batchSize: options.batchSize ?? DEFAULTS.batchSize,
    logger: options.logger ?? silentLogger,
  };
  assertPositive('lockDurationMs', settings.lockDurationMs);
  assertPositive('maxDeliveryCount', settings.maxDeliveryCount);
  assertPositive('batchSize', settings.batchSize);
  assertPositive('pollIntervalMs.min', settings.pollIntervalMs.min);
  if (settings.pollIntervalMs.max < settings.pollIntervalMs.min) throw new Error('pollIntervalMs.max < min');
  if (settings.retryBackoff.baseMs < 0 || settings.retryBackoff.maxMs < settings.retryBackoff.baseMs) {
    throw new Error('retryBackoff needs 0 <= baseMs <= maxMs');
  }
  const db = openSqlite(options.file, { synchronous: 'full' });
  try {
    if (options.walAutocheckpointPages !== undefined) {
      assertPositiveInteger('walAutocheckpointPages', options.walAutocheckpointPages);
      db.pragma(`wal_autocheckpoint = ${options.walAutocheckpointPages}`);
    }
    const store = new SqliteDeliveryStore(db, settings.maxDeliveryCount);
    store.registerSubscriptions(options.subscriptions, Date.now());
    return new SqliteEventBus(db, store, settings, new WalSync(db, options.file));
  } catch (error) {
    db.close();
    throw error;
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`);
}

function assertPositive(name: string, value: number): void {
  if (!(value > 0)) throw new Error(`${name} must be positive, got ${value}`);
}
