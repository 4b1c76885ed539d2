import { EventType, TwinEvent } from '@twinstore/contracts';

/** What a handler decided about one delivery. Redelivery is detected through `deliveryCount`, not hoped away. */
export type HandlerOutcome =
  | { kind: 'done' }
  | { kind: 'skip'; reason: string }
  | { kind: 'retry'; reason: string }
  | { kind: 'dead-letter'; reason: string };

export const done = (): HandlerOutcome => ({ kind: 'done' });
export const skip = (reason: string): HandlerOutcome => ({ kind: 'skip', reason });
export const retry = (reason: string): HandlerOutcome => ({ kind: 'retry', reason });
export const deadLetter = (reason: string): HandlerOutcome => ({ kind: 'dead-letter', reason });

export interface DeliveryContext {
  subscription: string;
  messageId: string;
  /** 1 on first delivery. */
  deliveryCount: number;
}

export type EventHandler = (event: TwinEvent, context: DeliveryContext) => Promise<HandlerOutcome>;

/** One delivery of a batch: the decoded event and its delivery context. */
export interface Delivery {
  event: TwinEvent;
  context: DeliveryContext;
}

/**
 * Handles a batch of deliveries of one subscription, oldest first, and answers one outcome per delivery, in the
 * same order. A throw counts as `retry` for every delivery of the batch; handlers that want a poison message to
 * fail alone isolate it themselves (see `isolatingBatchHandler`).
 */
export type BatchEventHandler = (deliveries: readonly Delivery[]) => Promise<HandlerOutcome[]>;

export interface BatchSubscribeOptions extends SubscribeOptions {
  /** Most deliveries per handler call. */
  maxBatchSize: number;
  /**
   * How long the runner may hold a partial batch waiting for more deliveries before it hands it over (ms).
   * 0: hand over whatever is there at once.
   */
  maxBatchWaitMs: number;
}

export interface SubscribeOptions {
  /** Most handler calls in flight at once for this subscription in this process (messages, or batches). */
  concurrency: number;
  /** Event types this subscription receives; others are not delivered to it. */
  types: readonly EventType[];
}

export interface RunningSubscription {
  /** Stop taking messages, wait for in-flight handlers (up to the deadline), then release. */
  close(deadlineMs?: number): Promise<void>;
}

export interface EventPublisher {
  /** Durable once resolved: every subscription will see every event (at least once). */
  publish(events: TwinEvent[]): Promise<void>;
  close(): Promise<void>;
}

export interface EventSubscriber {
  subscribe(subscription: string, handler: EventHandler, options: SubscribeOptions): RunningSubscription;
  /**
   * Like `subscribe`, but the handler gets up to `maxBatchSize` deliveries per call and settles each by its
   * own outcome: one dead-lettered or retried delivery does not hold back the others of its batch. A message
   * that does not decode never reaches the handler (it is retried alone); the rest of its batch does. Order is
   * the bus's: the SQLite bus hands a batch in publish order (and, with concurrency 1, batch after batch);
   * Service Bus keeps no order without sessions.
   */
  subscribeBatch(
    subscription: string,
    handler: BatchEventHandler,
    options: BatchSubscribeOptions,
  ): RunningSubscription;
  close(): Promise<void>;
}

export interface SubscriptionStats {
  subscription: string;
  /** Messages waiting or in flight. */
  active: number;
  deadLettered: number;
}

export interface DeadLetteredMessage {
  messageId: string;
  subscription: string;
  deliveryCount: number;
  reason: string;
  description?: string;
  deadLetteredAt: string;
  body: string;
}

export interface EventBusAdmin {
  stats(): Promise<SubscriptionStats[]>;
  /**
   * Messages waiting or in flight on the busiest subscription (dead letters not counted): the back-pressure
   * signal. Cheaper than `stats()`: counting may stop at `atMost` (the answer is then `atMost`), so its cost
   * stays bounded however deep the backlog is.
   */
  backlog(atMost?: number): Promise<number>;
  listDeadLetters(subscription: string, options?: { limit?: number }): Promise<DeadLetteredMessage[]>;
  /** Send dead-lettered messages (all, or those ids) back to their subscription; returns how many. */
  redrive(subscription: string, messageIds?: readonly string[]): Promise<number>;
  /** Drop every dead-lettered message of the subscription; returns how many. */
  purgeDeadLetters(subscription: string): Promise<number>;
  close(): Promise<void>;
}
