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

export interface SubscribeOptions {
  /** Most messages in flight at once for this subscription in this process. */
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
