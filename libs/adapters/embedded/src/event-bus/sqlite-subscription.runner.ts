import { EventHandler, HandlerOutcome, RunningSubscription } from '@twinstore/application';
import { decodeEvent, TwinEvent } from '@twinstore/contracts';
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

export interface SubscriptionRunnerOptions {
  store: SqliteDeliveryStore;
  subscription: string;
  handler: EventHandler;
  concurrency: number;
  types: ReadonlySet<string>;
  lockDurationMs: number;
  maxDeliveryCount: number;
  retryBackoff: BackoffRange;
  pollIntervalMs: PollRange;
  /** Most deliveries claimed in one transaction. */
  batchSize: number;
  logger: EventBusLogger;
  onClosed: (runner: SqliteSubscriptionRunner) => void;
}

interface Held {
  delivery: ClaimedDelivery;
  lockedUntil: number;
  /** Renewal found the lock taken over: settling would be a no-op, so it is skipped. */
  lost: boolean;
}

/**
 * The consumer side of one subscription in one process: a poll loop that claims deliveries in batches into a
 * small local buffer (up to twice the concurrency, so handlers never wait for a round trip), runs at most
 * `concurrency` handlers at once, renews the locks it holds, and settles outcomes in batched transactions.
 */
export class SqliteSubscriptionRunner implements RunningSubscription {
  private readonly held = new Map<number, Held>();
  private readonly queue: Held[] = [];
  private readonly maxHeld: number;
  private running = 0;
  private stopping = false;
  private closed = false;
  private idleMs: number;
  private wakeSleeper: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private pendingSettlements: Array<{ held: Held; settlement: Settlement; done: () => void }> = [];
  private flushScheduled = false;
  private readonly loop: Promise<void>;
  private readonly renewTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: SubscriptionRunnerOptions) {
    this.maxHeld = o.concurrency * 2;
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
      // Claim again only once the buffer is down to one round of handlers, so claims stay batched.
      if (this.held.size > this.o.concurrency) {
        await this.sleep(undefined);
        continue;
      }
      let delay: number;
      try {
        const now = Date.now();
        const next = this.o.store.nextAvailableAt(this.o.subscription);
        const limit = Math.min(this.maxHeld - this.held.size, this.o.batchSize);
        const claimed =
          next !== undefined && next <= now
            ? this.o.store.claim(this.o.subscription, limit, now, this.o.lockDurationMs)
            : [];
        if (claimed.length > 0) {
          this.idleMs = this.o.pollIntervalMs.min;
          this.accept(claimed);
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

  private accept(claimed: ClaimedDelivery[]): void {
    for (const delivery of claimed) {
      const held: Held = { delivery, lockedUntil: delivery.lockedUntil, lost: false };
      this.held.set(delivery.seq, held);
      this.queue.push(held);
    }
    this.pump();
  }

  private pump(): void {
    while (!this.stopping && this.running < this.o.concurrency && this.queue.length > 0) {
      const held = this.queue.shift()!;
      this.running++;
      void this.process(held);
    }
  }

  private async process(held: Held): Promise<void> {
    const outcome = await this.run(held.delivery);
    this.running--;
    this.pump();
    if (!this.closed && !held.lost) await this.settle(held, this.toSettlement(held.delivery, outcome));
    this.forget(held);
  }

  /** Never throws: a body that does not decode or a handler that fails is a failed delivery, to be retried. */
  private async run(delivery: ClaimedDelivery): Promise<HandlerOutcome> {
    let event: TwinEvent;
    try {
      event = decodeEvent(delivery.body);
    } catch (error) {
      const reason = invalidBodyReason(error, delivery.body);
      this.o.logger.warn(this.fields(delivery, { reason }), 'event bus message failed schema validation');
      return { kind: 'retry', reason };
    }
    try {
      const outcome = await this.o.handler(event, {
        subscription: this.o.subscription,
        messageId: delivery.messageId,
        deliveryCount: delivery.deliveryCount,
      });
      if (!isOutcome(outcome)) return { kind: 'retry', reason: 'InvalidHandlerOutcome' };
      return outcome;
    } catch (error) {
      const reason = errorName(error);
      this.o.logger.warn(this.fields(delivery, { error: reason }), 'event handler threw; will retry');
      return { kind: 'retry', reason };
    }
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

  /** Settlements of handlers finishing in the same turn of the event loop share one transaction (one fsync). */
  private settle(held: Held, settlement: Settlement): Promise<void> {
    return new Promise((done) => {
      this.pendingSettlements.push({ held, settlement, done });
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

  private forget(held: Held): void {
    this.held.delete(held.delivery.seq);
    if (this.held.size === this.o.concurrency) this.wake();
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

  private fields(delivery: ClaimedDelivery, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      subscription: this.o.subscription,
      messageId: delivery.messageId,
      deliveryCount: delivery.deliveryCount,
      ...extra,
    };
  }
}

function isOutcome(value: unknown): value is HandlerOutcome {
  const kind = (value as { kind?: unknown } | null | undefined)?.kind;
  return kind === 'done' || kind === 'skip' || kind === 'retry' || kind === 'dead-letter';
}
