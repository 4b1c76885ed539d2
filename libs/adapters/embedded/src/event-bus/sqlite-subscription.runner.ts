import {
  BatchEventHandler,
  Delivery,
  EventHandler,
  HandlerOutcome,
  RunningSubscription,
} from '@twinstore/application';
import { decodeEvent } from '@twinstore/contracts';
import { BackoffRange, nextIdleDelayMs, PollRange, retryDelayMs } from './backoff';
import { errorName, invalidBodyReason } from './invalid-body-reason';
import {
  ClaimedDelivery,
  MAX_DELIVERY_COUNT_EXCEEDED,
  Settlement,
  SqliteDeliveryStore,
} from './sqlite-delivery.store';

/** Structured logger (pino-compatible argument order). Fields never carry bodies or error messages. */
export interface EventBusLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: EventBusLogger = { warn: () => undefined, error: () => undefined };

export const DEFAULT_CLOSE_DEADLINE_MS = 30_000;

const INVALID_HANDLER_OUTCOME = 'InvalidHandlerOutcome';

export interface SubscriptionRunnerOptions {
  store: SqliteDeliveryStore;
  subscription: string;
  handler: BatchEventHandler;
  /** Most handler calls (batches) in flight at once. */
  concurrency: number;
  /** Most deliveries per handler call. */
  maxBatchSize: number;
  /** How long a partial batch may wait for more deliveries before it is handed over (0: at once). */
  maxBatchWaitMs: number;
  types: ReadonlySet<string>;
  lockDurationMs: number;
  maxDeliveryCount: number;
  retryBackoff: BackoffRange;
  pollIntervalMs: PollRange;
  /** Most deliveries claimed in one transaction (raised to `maxBatchSize` when that is larger). */
  batchSize: number;
  logger: EventBusLogger;
  onClosed: (runner: SqliteSubscriptionRunner) => void;
}

interface Held {
  delivery: ClaimedDelivery;
  lockedUntil: number;
  /** When it was claimed: a partial batch waits at most `maxBatchWaitMs` from its oldest delivery. */
  claimedAt: number;
  /** Renewal found the lock taken over: settling would be a no-op, so it is skipped. */
  lost: boolean;
}

/**
 * The consumer side of one subscription in one process: a poll loop that claims deliveries in batches into a
 * local buffer (up to two rounds of handler calls, so handlers never wait for a round trip), hands them to at
 * most `concurrency` handler calls of up to `maxBatchSize` deliveries each, in publish (seq) order, renews the
 * locks of everything it holds, and settles each delivery by its own outcome, a batch in one transaction.
 */
export class SqliteSubscriptionRunner implements RunningSubscription {
  private readonly held = new Map<number, Held>();
  /** Claimed, not yet handed to a handler; kept in seq order. */
  private queue: Held[] = [];
  /** Deliveries one round of handler calls takes. */
  private readonly round: number;
  private readonly maxHeld: number;
  private readonly claimLimit: number;
  private running = 0;
  private stopping = false;
  private closed = false;
  private idleMs: number;
  private wakeSleeper: (() => void) | undefined;
  /** The poll loop is waiting for the buffer to drain below one round, not for a timer. */
  private waitingForRoom = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private pendingSettlements: Array<{ held: Held; settlement: Settlement; done: () => void }> = [];
  private flushScheduled = false;
  private readonly loop: Promise<void>;
  private readonly renewTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: SubscriptionRunnerOptions) {
    this.round = o.concurrency * o.maxBatchSize;
    this.maxHeld = this.round * 2;
    this.claimLimit = Math.max(o.batchSize, o.maxBatchSize);
    this.idleMs = o.pollIntervalMs.min;
    this.renewTimer = setInterval(() => this.renewLocks(), Math.max(5, Math.floor(o.lockDurationMs / 4)));
    this.renewTimer.unref();
    this.loop = this.pollLoop();
  }

  get subscription(): string {
    return this.o.subscription;
  }

  /** Called after a local publish: messages of these types may be waiting, so poll now. */
  notify(types: ReadonlySet<string>): void {
    for (const type of types) {
      if (this.o.types.has(type)) return this.poke();
    }
  }

  /** Poll now and fast again: there is work. */
  poke(): void {
    this.idleMs = this.o.pollIntervalMs.min;
    this.wake();
  }

  close(deadlineMs: number = DEFAULT_CLOSE_DEADLINE_MS): Promise<void> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async pollLoop(): Promise<void> {
    while (!this.stopping) {
      // Claim again only once the buffer is down to one round of handler calls, so claims stay batched.
      if (this.held.size > this.round) {
        this.waitingForRoom = true;
        await this.sleep(undefined);
        this.waitingForRoom = false;
        continue;
      }
      let delay: number;
      try {
        const now = Date.now();
        const next = this.o.store.nextAvailableAt(this.o.subscription);
        const limit = Math.min(this.maxHeld - this.held.size, this.claimLimit);
        const claimed =
          next !== undefined && next <= now
            ? this.o.store.claim(this.o.subscription, limit, now, this.o.lockDurationMs)
            : [];
        if (claimed.length > 0) {
          this.idleMs = this.o.pollIntervalMs.min;
          this.accept(claimed, now);
          if (claimed.length === limit) continue;
          delay = this.idleMs;
        } else {
          // A delivery backing off after a failure is due before the next idle poll: wake for it.
          delay = next !== undefined && next > now ? Math.min(this.idleMs, next - now) : this.idleMs;
          this.idleMs = nextIdleDelayMs(this.idleMs, this.o.pollIntervalMs);
        }
      } catch (error) {
        this.o.logger.error(
          { subscription: this.o.subscription, error: errorName(error) },
          'event bus poll failed; backing off',
        );
        delay = this.o.pollIntervalMs.max;
      }
      await this.sleep(delay);
    }
  }

  private accept(claimed: ClaimedDelivery[], now: number): void {
    for (const delivery of claimed) {
      const held: Held = { delivery, lockedUntil: delivery.lockedUntil, claimedAt: now, lost: false };
      this.held.set(delivery.seq, held);
      this.queue.push(held);
    }
    // Claims come in availability order; a retried delivery may be older than what is already buffered.
    this.queue.sort((a, b) => a.delivery.seq - b.delivery.seq);
    this.pump();
  }

  /** Starts handler calls while there are free slots: full batches at once, a partial one when its wait is up. */
  private pump(): void {
    while (!this.stopping && this.running < this.o.concurrency && this.queue.length > 0) {
      if (this.queue.length < this.o.maxBatchSize && !this.partialBatchDue()) {
        this.armBatchTimer();
        return;
      }
      const batch = this.queue.splice(0, this.o.maxBatchSize);
      this.running++;
      void this.process(batch);
    }
  }

  private partialBatchDue(): boolean {
    if (this.o.maxBatchWaitMs <= 0) return true;
    const oldest = Math.min(...this.queue.map((h) => h.claimedAt));
    return Date.now() - oldest >= this.o.maxBatchWaitMs;
  }

  private armBatchTimer(): void {
    if (this.batchTimer) return;
    const oldest = Math.min(...this.queue.map((h) => h.claimedAt));
    this.batchTimer = setTimeout(
      () => {
        this.batchTimer = undefined;
        this.pump();
      },
      Math.max(0, oldest + this.o.maxBatchWaitMs - Date.now()),
    );
  }

  private async process(batch: Held[]): Promise<void> {
    const outcomes = await this.run(batch);
    this.running--;
    this.pump();
    if (!this.closed) {
      await this.settle(
        batch.flatMap((held, i) =>
          held.lost ? [] : [{ held, settlement: this.toSettlement(held.delivery, outcomes[i]) }],
        ),
      );
    }
    this.forget(batch);
  }

  /**
   * One outcome per delivery; never throws. A body that does not decode fails alone (the others still go to the
   * handler); a handler that throws or answers nonsense fails its whole batch, to be retried.
   */
  private async run(batch: Held[]): Promise<HandlerOutcome[]> {
    const outcomes: HandlerOutcome[] = new Array<HandlerOutcome>(batch.length);
    const deliveries: Delivery[] = [];
    const positions: number[] = [];
    batch.forEach(({ delivery }, i) => {
      try {
        deliveries.push({
          event: decodeEvent(delivery.body),
          context: {
            subscription: this.o.subscription,
            messageId: delivery.messageId,
            deliveryCount: delivery.deliveryCount,
          },
        });
        positions.push(i);
      } catch (error) {
        const reason = invalidBodyReason(error, delivery.body);
        this.o.logger.warn(this.fields(delivery, { reason }), 'event bus message failed schema validation');
        outcomes[i] = { kind: 'retry', reason };
      }
    });
    if (deliveries.length === 0) return outcomes;
    let answered: HandlerOutcome[];
    try {
      answered = await this.o.handler(deliveries);
    } catch (error) {
      const reason = errorName(error);
      this.o.logger.warn(this.batchFields(deliveries, { error: reason }), 'event handler threw; will retry');
      answered = deliveries.map(() => ({ kind: 'retry', reason }));
    }
    if (!Array.isArray(answered) || answered.length !== deliveries.length) {
      this.o.logger.warn(
        this.batchFields(deliveries),
        'event handler answered no outcome per delivery; will retry',
      );
      answered = deliveries.map(() => ({ kind: 'retry', reason: INVALID_HANDLER_OUTCOME }));
    }
    positions.forEach((position, j) => {
      const outcome = answered[j];
      outcomes[position] = isOutcome(outcome) ? outcome : { kind: 'retry', reason: INVALID_HANDLER_OUTCOME };
    });
    return outcomes;
  }

  private toSettlement(delivery: ClaimedDelivery, outcome: HandlerOutcome): Settlement {
    const ref = { seq: delivery.seq, lockToken: delivery.lockToken };
    switch (outcome.kind) {
      case 'done':
      case 'skip':
        return { kind: 'complete', ...ref };
      case 'dead-letter':
        return { kind: 'dead-letter', reason: outcome.reason, ...ref };
      case 'retry':
        if (delivery.deliveryCount >= this.o.maxDeliveryCount) {
          return {
            kind: 'dead-letter',
            reason: MAX_DELIVERY_COUNT_EXCEEDED,
            description: outcome.reason,
            ...ref,
          };
        }
        return {
          kind: 'abandon',
          reason: outcome.reason,
          availableAt: Date.now() + retryDelayMs(delivery.deliveryCount, this.o.retryBackoff),
          ...ref,
        };
    }
  }

  /**
   * Settlements of handler calls finishing in the same turn of the event loop share one transaction, so a batch
   * is always settled in one.
   */
  private settle(settlements: Array<{ held: Held; settlement: Settlement }>): Promise<void> {
    if (settlements.length === 0) return Promise.resolve();
    return new Promise((done) => {
      settlements.forEach((s, i) =>
        this.pendingSettlements.push({ ...s, done: i === settlements.length - 1 ? done : noop }),
      );
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushSettlements());
      }
    });
  }

  private flushSettlements(): void {
    this.flushScheduled = false;
    const batch = this.pendingSettlements.splice(0);
    if (batch.length === 0) return;
    try {
      const applied = this.o.store.settle(
        this.o.subscription,
        batch.map((b) => b.settlement),
        Date.now(),
      );
      applied.forEach((ok, i) => {
        if (!ok) this.o.logger.warn(this.fields(batch[i].held.delivery), 'lock lost before settlement');
      });
    } catch (error) {
      // The locks run out and the deliveries come back: at-least-once holds without this transaction.
      this.o.logger.error(
        { subscription: this.o.subscription, error: errorName(error), settlements: batch.length },
        'event bus settlement failed',
      );
    }
    for (const b of batch) b.done();
  }

  private renewLocks(): void {
    if (this.closed) return;
    const now = Date.now();
    const due = [...this.held.values()].filter(
      (h) => !h.lost && h.lockedUntil - now <= this.o.lockDurationMs / 2,
    );
    if (due.length === 0) return;
    const lockedUntil = now + this.o.lockDurationMs;
    try {
      const renewed = this.o.store.renew(
        this.o.subscription,
        due.map((h) => h.delivery),
        lockedUntil,
      );
      renewed.forEach((ok, i) => {
        if (ok) due[i].lockedUntil = lockedUntil;
        else {
          due[i].lost = true;
          this.o.logger.warn(this.fields(due[i].delivery), 'lock lost before renewal');
        }
      });
    } catch (error) {
      this.o.logger.error(
        { subscription: this.o.subscription, error: errorName(error) },
        'lock renewal failed',
      );
    }
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.batchTimer);
    this.wake();
    await this.loop;
    // Claimed but never handed to a handler: give back as if never delivered.
    const unstarted = this.queue.splice(0);
    for (const held of unstarted) this.held.delete(held.delivery.seq);
    this.release(unstarted, true);
    if (this.held.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    // Outcomes already decided must not be lost to the release below.
    if (this.pendingSettlements.length > 0) this.flushSettlements();
    const unfinished = [...this.held.values()];
    this.closed = true;
    clearInterval(this.renewTimer);
    this.release(unfinished, false);
    this.held.clear();
    this.o.onClosed(this);
  }

  private release(held: Held[], uncount: boolean): void {
    const mine = held.filter((h) => !h.lost);
    if (mine.length === 0) return;
    try {
      this.o.store.release(
        this.o.subscription,
        mine.map((h) => h.delivery),
        Date.now(),
        uncount,
      );
    } catch (error) {
      this.o.logger.error({ subscription: this.o.subscription, error: errorName(error) }, 'release failed');
    }
  }

  private forget(batch: Held[]): void {
    for (const held of batch) this.held.delete(held.delivery.seq);
    if (this.waitingForRoom && this.held.size <= this.round) this.wake();
    if (this.held.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wakeSleeper === finish) this.wakeSleeper = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(finish, ms);
      this.wakeSleeper = finish;
    });
  }

  private wake(): void {
    this.wakeSleeper?.();
  }

  private batchFields(deliveries: Delivery[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    if (deliveries.length === 1) return { ...deliveries[0].context, ...extra };
    return { subscription: this.o.subscription, deliveries: deliveries.length, ...extra };
  }

  private fields(delivery: ClaimedDelivery, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      subscription: this.o.subscription,
      messageId: delivery.messageId,
      deliveryCount: delivery.deliveryCount,
      ...extra,
    };
  }
}

/** `subscribe` on the batch path: batches of one, so there is a single delivery path to get right. */
export function oneByOne(handler: EventHandler): BatchEventHandler {
  return async ([delivery]) => [await handler(delivery.event, delivery.context)];
}

function noop(): void {}

function isOutcome(value: unknown): value is HandlerOutcome {
  const kind = (value as { kind?: unknown } | null | undefined)?.kind;
  return kind === 'done' || kind === 'skip' || kind === 'retry' || kind === 'dead-letter';
}
