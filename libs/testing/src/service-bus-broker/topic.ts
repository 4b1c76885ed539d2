import { randomUUID } from 'node:crypto';
import { AmqpMessage, messageIdOf, scheduledTimeOf } from './amqp-message';
import { MessageQueue, QueuedMessage } from './message-queue';
import { DEFAULT_RULE, matches, SubscriptionRule } from './subscription-rules';

export interface SubscriptionSettings {
  lockDurationMs: number;
  maxDeliveryCount: number;
  /** Rules the subscription starts with; default: `$Default` taking every message. */
  rules?: readonly SubscriptionRule[];
}

export interface TopicSettings {
  /** Messages with a message id seen within this window are accepted and dropped; 0 turns detection off. */
  duplicateDetectionWindowMs: number;
}

export class Subscription {
  readonly main: MessageQueue;
  readonly deadLetters: MessageQueue;
  readonly rules = new Map<string, { rule: SubscriptionRule; createdAt: Date }>();

  constructor(
    readonly topic: Topic,
    readonly name: string,
    readonly settings: SubscriptionSettings,
    onAvailable: (queue: MessageQueue) => void,
  ) {
    const path = `${topic.name}/Subscriptions/${name}`;
    this.deadLetters = new MessageQueue(
      `${path}/$DeadLetterQueue`,
      { lockDurationMs: settings.lockDurationMs, maxDeliveryCount: Infinity },
      { onAvailable: () => onAvailable(this.deadLetters) },
    );
    this.main = new MessageQueue(
      path,
      { lockDurationMs: settings.lockDurationMs, maxDeliveryCount: settings.maxDeliveryCount },
      {
        onAvailable: () => onAvailable(this.main),
        // The dead-letter queue orders by its own arrival, as Service Bus does.
        deadLetter: (message) =>
          this.deadLetters.enqueue({
            ...message,
            seq: topic.nextSequenceNumber(),
            state: 'active',
            lock: undefined,
          }),
      },
    );
    for (const rule of settings.rules ?? [DEFAULT_RULE])
      this.rules.set(rule.name, { rule, createdAt: new Date() });
  }

  takes(message: AmqpMessage): boolean {
    for (const { rule } of this.rules.values()) if (matches(rule.filter, message)) return true;
    return false;
  }
}

interface Scheduled {
  message: AmqpMessage;
  at: number;
}

/** A topic: duplicate detection, scheduling, and fan-out to the subscriptions whose rules match. */
export class Topic {
  readonly subscriptions = new Map<string, Subscription>();
  private sequence = 0;
  /** Message id -> when it leaves the window; insertion order is expiry order (one window per topic). */
  private readonly seenIds = new Map<string, number>();
  private readonly scheduled = new Map<number, Scheduled>();

  constructor(
    readonly name: string,
    readonly settings: TopicSettings,
  ) {}

  nextSequenceNumber(): number {
    return ++this.sequence;
  }

  subscription(name: string): Subscription | undefined {
    return this.subscriptions.get(name.toLowerCase());
  }

  /** Accepts sent messages: duplicates are dropped, scheduled ones held, the rest fanned out. */
  send(
    messages: readonly AmqpMessage[],
    now: number,
  ): { enqueued: number; duplicates: number; scheduled: number } {
    const result = { enqueued: 0, duplicates: 0, scheduled: 0 };
    for (const message of messages.map(withMessageId)) {
      if (this.isDuplicate(message, now)) {
        result.duplicates++;
        continue;
      }
      const at = scheduledTimeOf(message);
      if (at !== undefined && at > now) {
        this.scheduled.set(this.nextSequenceNumber(), { message, at });
        result.scheduled++;
        continue;
      }
      this.fanOut(message, this.nextSequenceNumber(), now);
      result.enqueued++;
    }
    return result;
  }

  /** Holds a message until `at` (the schedule-message operation); returns its sequence number. */
  schedule(sent: AmqpMessage, at: number, now: number): number {
    const message = withMessageId(sent);
    const seq = this.nextSequenceNumber();
    if (this.isDuplicate(message, now)) return seq;
    if (at <= now) this.fanOut(message, seq, now);
    else this.scheduled.set(seq, { message, at });
    return seq;
  }

  cancelScheduled(seq: number): boolean {
    return this.scheduled.delete(seq);
  }

  get scheduledCount(): number {
    return this.scheduled.size;
  }

  /** Enqueues scheduled messages that are due and forgets ids that left the duplicate window. */
  tick(now: number): void {
    for (const [seq, entry] of this.scheduled) {
      if (entry.at <= now) {
        this.scheduled.delete(seq);
        this.fanOut(entry.message, seq, now);
      }
    }
    for (const [id, until] of this.seenIds) {
      if (until > now) break;
      this.seenIds.delete(id);
    }
  }

  clear(): void {
    this.scheduled.clear();
    this.seenIds.clear();
    for (const s of this.subscriptions.values()) {
      s.main.clear();
      s.deadLetters.clear();
    }
  }

  private isDuplicate(message: AmqpMessage, now: number): boolean {
    const window = this.settings.duplicateDetectionWindowMs;
    const id = messageIdOf(message);
    if (window <= 0 || id === undefined) return false;
    const until = this.seenIds.get(id);
    if (until !== undefined && until > now) return true;
    this.seenIds.delete(id);
    this.seenIds.set(id, now + window);
    return false;
  }

  private fanOut(message: AmqpMessage, seq: number, now: number): void {
    for (const subscription of this.subscriptions.values()) {
      if (!subscription.takes(message)) continue;
      const queued: QueuedMessage = { seq, amqp: message, enqueuedAt: now, failures: 0, state: 'active' };
      subscription.main.enqueue(queued);
    }
  }
}

/**
 * Service Bus gives every message an id; the SDK relies on it (its lock renewer refuses to settle a message
 * without one), so a message sent without an id gets one here.
 */
function withMessageId(message: AmqpMessage): AmqpMessage {
  if (message.message_id !== undefined && message.message_id !== null) return message;
  return { ...message, message_id: randomUUID().replace(/-/g, '') };
}
