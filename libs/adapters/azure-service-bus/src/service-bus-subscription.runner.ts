import {
  isServiceBusError,
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import {
  BatchEventHandler,
  BillingMeter,
  Delivery,
  EventHandler,
  HandlerOutcome,
  RunningSubscription,
} from '@twinstore/application';
import { TwinEvent } from '@twinstore/contracts';
import { BUS_PROPERTY, CE_PROPERTY, fromServiceBusMessage } from './cloud-event-message.mapping';
import {
  boundedReason,
  errorName,
  invalidMessageReason,
  MAX_DELIVERY_COUNT_EXCEEDED,
} from './failure-reason';
import { SettlementGate } from './settlement-gate';

/** Structured logger (pino-compatible argument order). Fields never carry bodies or error messages. */
export interface EventBusLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: EventBusLogger = { warn: () => undefined, error: () => undefined };

export const DEFAULT_CLOSE_DEADLINE_MS = 30_000;

export interface BackoffRange {
  baseMs: number;
  maxMs: number;
}

/**
 * `stream`: the SDK's streaming receiver, one message per handler call. `batch`: `receiveMessages(max)` in a
 * loop, up to `maxBatchSize` messages per handler call.
 */
export type RunnerMode =
  | { kind: 'stream'; handler: EventHandler }
  | { kind: 'batch'; handler: BatchEventHandler; maxBatchSize: number; maxBatchWaitMs: number };

export interface SubscriptionRunnerOptions {
  client: ServiceBusClient;
  topic: string;
  subscription: string;
  mode: RunnerMode;
  /** Most handler calls (messages, or batches) in flight at once. */
  concurrency: number;
  types: ReadonlySet<string>;
  /** Must equal the subscription's: the delivery that reaches it is dead-lettered here, keeping the reason. */
  maxDeliveryCount: number;
  /** Delay before a retried message is abandoned (held under lock meanwhile): exponential with jitter. */
  retryBackoff: BackoffRange;
  /** How long the SDK keeps renewing the lock of a message whose handler runs. */
  maxLockRenewalMs: number;
  /** Pause after a `ServiceBusy` error before the SDK retries. */
  busyBackoffMs: number;
  logger: EventBusLogger;
  /** Counts receives and settlements (twins_billable_operations_total). */
  meter?: BillingMeter;
  onClosed: (runner: ServiceBusSubscriptionRunner) => void;
}

/** The description of a dead letter the handler asked for (its reason says why; Service Bus needs both). */
export const HANDLER_DEAD_LETTERED = 'DeadLetteredByHandler';

/** An error code after which receiving is pointless: the subscription stops and says so. */
const FATAL_CODES = new Set(['MessagingEntityNotFound', 'UnauthorizedAccess']);

const INVALID_HANDLER_OUTCOME = 'InvalidHandlerOutcome';
/**
 * An idle batch receiver asks for one message with this long a wait, then for the rest of the batch with
 * `maxBatchWaitMs`: an empty subscription costs one receive per wait instead of one per `maxBatchWaitMs`, and a
 * message arriving after a quiet spell does not sit out the SDK's fixed 1 s wait after the first message.
 */
const IDLE_RECEIVE_WAIT_MS = 5_000;
/** Unsettled messages one receiver link holds at most (rhea's session buffer; the SDK caps a receive at this). */
export const MAX_UNSETTLED = 2047;
/** Pause after a receive error other than `ServiceBusy` (the SDK has retried already). */
const RECEIVE_ERROR_PAUSE_MS = 1_000;

interface InFlight {
  message: ServiceBusReceivedMessage;
  /** Given back at the close deadline: the handler's late outcome must not be settled. */
  released: boolean;
}

/**
 * One subscription in this process, in peek-lock with lock renewal by the SDK (for streamed and for
 * batch-received messages alike): either the SDK's streaming receiver with `concurrency` concurrent calls, or a
 * receive loop handing batches of `receiveMessages(maxBatchSize)` to at most `concurrency` handler calls. Every
 * message is settled explicitly from its own outcome. Service Bus keeps no order without sessions: a batch
 * holds messages in the order received, which need not be the order published.
 */
export class ServiceBusSubscriptionRunner implements RunningSubscription {
  private readonly receiver: ServiceBusReceiver;
  private readonly sdkSubscription: { close(): Promise<void> } | undefined;
  private readonly receiving: Promise<void> | undefined;
  /**
   * Aborts the receive in progress on close. One controller per receive: the SDK leaves its listener on the
   * signal it was given, so a signal shared by every receive would collect one listener per call.
   */
  private currentReceive: AbortController | undefined;
  private readonly inFlight = new Set<InFlight>();
  private readonly gate = new SettlementGate();
  private idleWaiters: Array<() => void> = [];
  private backoffWakers = new Set<() => void>();
  private roomWaiter: (() => void) | undefined;
  /** Batch handler calls running. */
  private running = 0;
  private stopping = false;
  private closing: Promise<void> | undefined;
  /** Set when a fatal error stopped the subscription. */
  failure: string | undefined;

  constructor(private readonly o: SubscriptionRunnerOptions) {
    this.receiver = o.client.createReceiver(o.topic, o.subscription, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: o.maxLockRenewalMs,
      // The body is the event data as sent; the adapter parses (and validates) it itself.
      skipParsingBodyAsJson: true,
    });
    const mode = o.mode;
    if (mode.kind === 'stream') {
      this.sdkSubscription = this.receiver.subscribe(
        {
          processMessage: (message) => this.process(message, mode.handler),
          processError: (args) => this.onError(args),
        },
        { maxConcurrentCalls: o.concurrency, autoCompleteMessages: false },
      );
    } else {
      this.receiving = this.receiveLoop(mode.handler, mode.maxBatchSize, mode.maxBatchWaitMs);
    }
  }

  get subscription(): string {
    return this.o.subscription;
  }

  /** Stop taking messages, wait for in-flight handlers up to the deadline, give back the rest, release. */
  close(deadlineMs: number = DEFAULT_CLOSE_DEADLINE_MS): Promise<void> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async process(message: ServiceBusReceivedMessage, handler: EventHandler): Promise<void> {
    const entry: InFlight = { message, released: false };
    this.o.meter?.record('serviceBus', 'receive', 'none');
    this.inFlight.add(entry);
    try {
      await this.settle(entry, await this.decide(message, handler));
    } finally {
      this.forget([entry]);
    }
  }

  /**
   * Receives while a handler slot is free and the messages held (in handlers or waiting for their settlement)
   * stay within two rounds of batches, so a failing downstream cannot pile up locks, and within what one
   * receiver link can hold unsettled.
   */
  private async receiveLoop(handler: BatchEventHandler, maxBatchSize: number, waitMs: number): Promise<void> {
    const maxHeld = Math.min(2 * this.o.concurrency * maxBatchSize, MAX_UNSETTLED);
    let idle = false;
    while (!this.stopping) {
      if (this.running >= this.o.concurrency || this.inFlight.size + maxBatchSize > maxHeld) {
        await new Promise<void>((resolve) => (this.roomWaiter = resolve));
        continue;
      }
      let messages: ServiceBusReceivedMessage[];
      const receive = new AbortController();
      this.currentReceive = receive;
      const abortSignal = receive.signal;
      try {
        messages = await this.receiver.receiveMessages(idle ? 1 : maxBatchSize, {
          maxWaitTimeInMs: idle ? IDLE_RECEIVE_WAIT_MS : waitMs,
          abortSignal,
        });
        if (idle && messages.length > 0 && maxBatchSize > 1) {
          messages.push(...(await this.receiveRest(maxBatchSize - 1, waitMs, abortSignal)));
        }
      } catch (error) {
        if (this.stopping) break;
        if (await this.receiveFailed(error, 'receive')) break;
        continue;
      }
      idle = messages.length === 0;
      if (idle) continue;
      const entries = messages.map((message) => ({ message, released: false }));
      this.o.meter?.record('serviceBus', 'receive', 'none', entries.length);
      for (const entry of entries) this.inFlight.add(entry);
      if (this.stopping) {
        // Received while closing: give back at once rather than when the locks expire.
        await this.release(entries);
        this.forget(entries);
        break;
      }
      this.running++;
      void this.processBatch(entries, handler);
    }
  }

  /** The rest of a batch whose first message ended an idle wait; a failure here keeps what was received. */
  private async receiveRest(
    count: number,
    waitMs: number,
    abortSignal: AbortSignal,
  ): Promise<ServiceBusReceivedMessage[]> {
    try {
      return await this.receiver.receiveMessages(count, { maxWaitTimeInMs: waitMs, abortSignal });
    } catch (error) {
      if (!this.stopping) await this.receiveFailed(error, 'receive');
      return [];
    }
  }

  private async processBatch(entries: InFlight[], handler: BatchEventHandler): Promise<void> {
    try {
      const outcomes = await this.decideBatch(
        entries.map((e) => e.message),
        handler,
      );
      this.running--;
      this.wakeReceiver();
      await Promise.all(entries.map((entry, i) => this.settle(entry, outcomes[i])));
    } finally {
      this.forget(entries);
    }
  }

  /**
   * One outcome per message; never throws. A message that is not routed here or does not decode gets its own
   * outcome and the rest go to the handler; a handler that throws or answers nonsense fails the whole batch.
   */
  private async decideBatch(
    messages: ServiceBusReceivedMessage[],
    handler: BatchEventHandler,
  ): Promise<HandlerOutcome[]> {
    const outcomes = new Array<HandlerOutcome>(messages.length);
    const deliveries: Delivery[] = [];
    const positions: number[] = [];
    messages.forEach((message, i) => {
      const routed = this.route(message);
      if ('outcome' in routed) outcomes[i] = routed.outcome;
      else {
        deliveries.push({ event: routed.event, context: this.contextOf(message) });
        positions.push(i);
      }
    });
    if (deliveries.length === 0) return outcomes;
    let answered: HandlerOutcome[];
    try {
      answered = await handler(deliveries);
    } catch (error) {
      const reason = errorName(error);
      this.o.logger.warn(
        { subscription: this.o.subscription, deliveries: deliveries.length, error: reason },
        'batch handler threw; will retry the batch',
      );
      answered = deliveries.map(() => ({ kind: 'retry', reason }));
    }
    if (!Array.isArray(answered) || answered.length !== deliveries.length) {
      this.o.logger.warn(
        { subscription: this.o.subscription, deliveries: deliveries.length },
        'batch handler answered no outcome per delivery; will retry the batch',
      );
      answered = deliveries.map(() => ({ kind: 'retry', reason: INVALID_HANDLER_OUTCOME }));
    }
    positions.forEach((position, j) => {
      const outcome = answered[j];
      outcomes[position] = isOutcome(outcome) ? outcome : { kind: 'retry', reason: INVALID_HANDLER_OUTCOME };
    });
    return outcomes;
  }

  /** The outcome for a message: the handler's, or a skip for a message not meant for it. Never throws. */
  private async decide(message: ServiceBusReceivedMessage, handler: EventHandler): Promise<HandlerOutcome> {
    const routed = this.route(message);
    if ('outcome' in routed) return routed.outcome;
    try {
      const outcome = await handler(routed.event, this.contextOf(message));
      if (!isOutcome(outcome)) return { kind: 'retry', reason: INVALID_HANDLER_OUTCOME };
      return outcome;
    } catch (error) {
      const reason = errorName(error);
      this.o.logger.warn(this.fields(message, { error: reason }), 'event handler threw; will retry');
      return { kind: 'retry', reason };
    }
  }

  /** The event of a message meant for this subscription, or the outcome of one that is not (or is invalid). */
  private route(message: ServiceBusReceivedMessage): { event: TwinEvent } | { outcome: HandlerOutcome } {
    const props = message.applicationProperties ?? {};
    const redriveTo = props[BUS_PROPERTY.redriveTo];
    const type = props[CE_PROPERTY.type];
    const notHere = { outcome: { kind: 'skip', reason: 'not routed to this subscription' } } as const;
    // Without routing rules (not synced) a subscription sees every message: the ones it does not take are
    // completed unhandled, as the rules would have kept them away.
    if (
      (redriveTo !== undefined && redriveTo !== this.o.subscription) ||
      (typeof type === 'string' && !this.o.types.has(type))
    ) {
      return notHere;
    }
    let event: TwinEvent;
    try {
      event = fromServiceBusMessage(message);
    } catch (error) {
      const reason = invalidMessageReason(error);
      this.o.logger.warn(this.fields(message, { reason }), 'event bus message failed schema validation');
      return { outcome: { kind: 'retry', reason } };
    }
    if (!this.o.types.has(event.type)) return notHere;
    return { event };
  }

  private contextOf(message: ServiceBusReceivedMessage): Delivery['context'] {
    return {
      subscription: this.o.subscription,
      messageId: String(message.messageId),
      deliveryCount: deliveryNumber(message),
    };
  }

  private async settle(entry: InFlight, outcome: HandlerOutcome): Promise<void> {
    const { message } = entry;
    const deliveries = deliveryNumber(message);
    try {
      switch (outcome.kind) {
        case 'done':
        case 'skip':
          if (entry.released) return;
          this.o.meter?.record('serviceBus', 'complete', 'none');
          await this.gate.run(false, () => this.receiver.completeMessage(message));
          return;
        case 'dead-letter':
          if (entry.released) return;
          await this.deadLetter(message, {
            deadLetterReason: boundedReason(outcome.reason),
            deadLetterErrorDescription: HANDLER_DEAD_LETTERED,
            [BUS_PROPERTY.deliveries]: deliveries,
            [BUS_PROPERTY.deadLetteredAt]: new Date().toISOString(),
          });
          return;
        case 'retry': {
          const reason = boundedReason(outcome.reason);
          if (deliveries >= this.o.maxDeliveryCount) {
            if (entry.released) return;
            await this.deadLetter(message, {
              deadLetterReason: MAX_DELIVERY_COUNT_EXCEEDED,
              deadLetterErrorDescription: reason,
              [BUS_PROPERTY.deliveries]: deliveries,
              [BUS_PROPERTY.deadLetteredAt]: new Date().toISOString(),
            });
            return;
          }
          await this.backoff(deliveries);
          // The reason rides along, so a dead letter made by the broker (lock expiry) still says why.
          if (!entry.released) await this.abandon(message, { [BUS_PROPERTY.retryReason]: reason });
          return;
        }
      }
    } catch (error) {
      // A lost lock means the message comes back (or has come back) anyway: at-least-once holds.
      this.o.logger.warn(
        this.fields(message, {
          outcome: outcome.kind,
          error: isServiceBusError(error) ? error.code : errorName(error),
        }),
        'settlement failed',
      );
    }
  }

  private deadLetter(
    message: ServiceBusReceivedMessage,
    options: { deadLetterReason: string; deadLetterErrorDescription: string } & Record<
      string,
      string | number
    >,
  ): Promise<void> {
    this.o.meter?.record('serviceBus', 'dead_letter', 'none');
    return this.gate.run(true, () => this.receiver.deadLetterMessage(message, options));
  }

  private abandon(message: ServiceBusReceivedMessage, properties?: Record<string, string>): Promise<void> {
    this.o.meter?.record('serviceBus', 'abandon', 'none');
    return this.gate.run(true, () => this.receiver.abandonMessage(message, properties));
  }

  /** Waits before a retry, cut short by close so the message goes back at once. */
  private backoff(deliveries: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const { baseMs, maxMs } = this.o.retryBackoff;
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(deliveries - 1, 30)));
    return this.pause(Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
  }

  /** Waits, cut short by close. */
  private pause(delay: number): Promise<void> {
    if (this.stopping || delay <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.backoffWakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delay);
      this.backoffWakers.add(wake);
    });
  }

  private async onError(args: ProcessErrorArgs): Promise<void> {
    await this.receiveFailed(args.error, args.errorSource);
  }

  /**
   * Logs a receive error and waits out what it calls for; true when it is fatal (the subscription then stops).
   * The streaming receiver awaits this before it retries, so waiting here is its back-off too.
   */
  private async receiveFailed(error: unknown, source: string): Promise<boolean> {
    const code = isServiceBusError(error) ? error.code : errorName(error);
    const fields = { subscription: this.o.subscription, source, code };
    if (FATAL_CODES.has(code)) {
      this.failure = code;
      this.o.logger.error(fields, 'subscription stopped: the entity is missing or access is denied');
      void this.close(0);
      return true;
    }
    if (code === 'ServiceBusy') {
      this.o.logger.warn(fields, 'Service Bus is busy; backing off');
      await this.pause(this.o.busyBackoffMs);
      return false;
    }
    this.o.logger.warn(fields, 'Service Bus receive error; the SDK retries');
    // The streaming receiver paces its own retries; the receive loop would spin without a pause.
    if (this.o.mode.kind === 'batch') await this.pause(RECEIVE_ERROR_PAUSE_MS);
    return false;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.backoffWakers]) wake();
    this.currentReceive?.abort();
    this.wakeReceiver();
    try {
      await this.sdkSubscription?.close();
      await this.receiving;
    } catch (error) {
      this.o.logger.warn(
        { subscription: this.o.subscription, error: errorName(error) },
        'stopping the receiver failed',
      );
    }
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    // Handlers still running at the deadline: give their messages back now rather than when the lock expires.
    await this.release([...this.inFlight]);
    try {
      await this.receiver.close();
    } finally {
      this.o.onClosed(this);
    }
  }

  private release(entries: InFlight[]): Promise<unknown> {
    return Promise.all(
      entries.map(async (entry) => {
        entry.released = true;
        try {
          await this.abandon(entry.message);
        } catch (error) {
          this.o.logger.warn(
            this.fields(entry.message, { error: errorName(error) }),
            'release at close failed',
          );
        }
      }),
    );
  }

  private forget(entries: InFlight[]): void {
    for (const entry of entries) this.inFlight.delete(entry);
    this.wakeReceiver();
    if (this.inFlight.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private wakeReceiver(): void {
    const wake = this.roomWaiter;
    this.roomWaiter = undefined;
    wake?.();
  }

  private fields(
    message: ServiceBusReceivedMessage,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    return {
      subscription: this.o.subscription,
      messageId: String(message.messageId),
      deliveryCount: deliveryNumber(message),
      ...extra,
    };
  }
}

/** 1 on the first delivery: the SDK reports the failed deliveries before this one. */
export function deliveryNumber(message: ServiceBusReceivedMessage): number {
  return (message.deliveryCount ?? 0) + 1;
}

function isOutcome(value: unknown): value is HandlerOutcome {
  const kind = (value as { kind?: unknown } | null | undefined)?.kind;
  return kind === 'done' || kind === 'skip' || kind === 'retry' || kind === 'dead-letter';
}
