import {
  isServiceBusError,
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import { BillingMeter, EventHandler, HandlerOutcome, RunningSubscription } from '@twinstore/application';
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

export interface SubscriptionRunnerOptions {
  client: ServiceBusClient;
  topic: string;
  subscription: string;
  handler: EventHandler;
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

interface InFlight {
  message: ServiceBusReceivedMessage;
  /** Given back at the close deadline: the handler's late outcome must not be settled. */
  released: boolean;
}

/**
 * One subscription in this process: the SDK's streaming receiver in peek-lock mode with `concurrency`
 * concurrent calls and lock renewal; every message is settled explicitly from the handler's outcome.
 */
export class ServiceBusSubscriptionRunner implements RunningSubscription {
  private readonly receiver: ServiceBusReceiver;
  private readonly sdkSubscription: { close(): Promise<void> };
  private readonly inFlight = new Set<InFlight>();
  private readonly gate = new SettlementGate();
  private idleWaiters: Array<() => void> = [];
  private backoffWakers = new Set<() => void>();
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
    this.sdkSubscription = this.receiver.subscribe(
      {
        processMessage: (message) => this.process(message),
        processError: (args) => this.onError(args),
      },
      { maxConcurrentCalls: o.concurrency, autoCompleteMessages: false },
    );
  }

  get subscription(): string {
    return this.o.subscription;
  }

  /** Stop taking messages, wait for in-flight handlers up to the deadline, give back the rest, release. */
  close(deadlineMs: number = DEFAULT_CLOSE_DEADLINE_MS): Promise<void> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async process(message: ServiceBusReceivedMessage): Promise<void> {
    const entry: InFlight = { message, released: false };
    this.o.meter?.record('serviceBus', 'receive', 'none');
    this.inFlight.add(entry);
    try {
      await this.settle(entry, await this.decide(message));
    } finally {
      this.inFlight.delete(entry);
      if (this.inFlight.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** The outcome for a message: the handler's, or a skip for a message not meant for it. Never throws. */
  private async decide(message: ServiceBusReceivedMessage): Promise<HandlerOutcome> {
    const props = message.applicationProperties ?? {};
    const redriveTo = props[BUS_PROPERTY.redriveTo];
    const type = props[CE_PROPERTY.type];
    // Without routing rules (not synced) a subscription sees every message: the ones it does not take are
    // completed unhandled, as the rules would have kept them away.
    if (
      (redriveTo !== undefined && redriveTo !== this.o.subscription) ||
      (typeof type === 'string' && !this.o.types.has(type))
    ) {
      return { kind: 'skip', reason: 'not routed to this subscription' };
    }
    let event: TwinEvent;
    try {
      event = fromServiceBusMessage(message);
    } catch (error) {
      const reason = invalidMessageReason(error);
      this.o.logger.warn(this.fields(message, { reason }), 'event bus message failed schema validation');
      return { kind: 'retry', reason };
    }
    if (!this.o.types.has(event.type)) return { kind: 'skip', reason: 'not routed to this subscription' };
    try {
      const outcome = await this.o.handler(event, {
        subscription: this.o.subscription,
        messageId: String(message.messageId),
        deliveryCount: deliveryNumber(message),
      });
      if (!isOutcome(outcome)) return { kind: 'retry', reason: 'InvalidHandlerOutcome' };
      return outcome;
    } catch (error) {
      const reason = errorName(error);
      this.o.logger.warn(this.fields(message, { error: reason }), 'event handler threw; will retry');
      return { kind: 'retry', reason };
    }
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
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    if (delay <= 0) return Promise.resolve();
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
    const code = isServiceBusError(args.error) ? args.error.code : errorName(args.error);
    const fields = { subscription: this.o.subscription, source: args.errorSource, code };
    if (FATAL_CODES.has(code)) {
      this.failure = code;
      this.o.logger.error(fields, 'subscription stopped: the entity is missing or access is denied');
      void this.close(0);
      return;
    }
    if (code === 'ServiceBusy') {
      this.o.logger.warn(fields, 'Service Bus is busy; backing off');
      // The SDK awaits this handler before it retries, so waiting here is the back-off.
      await new Promise((resolve) => setTimeout(resolve, this.o.busyBackoffMs));
      return;
    }
    this.o.logger.warn(fields, 'Service Bus receive error; the SDK retries');
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    try {
      await this.sdkSubscription.close();
    } catch (error) {
      this.o.logger.warn(
        { subscription: this.o.subscription, error: errorName(error) },
        'stopping the receiver failed',
      );
    }
    for (const wake of [...this.backoffWakers]) wake();
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    // Handlers still running at the deadline: give their messages back now rather than when the lock expires.
    await Promise.all(
      [...this.inFlight].map(async (entry) => {
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
    try {
      await this.receiver.close();
    } finally {
      this.o.onClosed(this);
    }
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
