import { randomBytes } from 'node:crypto';
import type { AmqpMessage } from './amqp-message';

export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';

/** One message as it sits in a subscription or its dead-letter queue. */
export interface QueuedMessage {
  /** Sequence number within the topic: the order of the queue and the key of peek and deferral. */
  readonly seq: number;
  /** The AMQP message as sent, with application properties changed by settlements of this subscription. */
  amqp: AmqpMessage;
  readonly enqueuedAt: number;
  /** Failed deliveries so far (abandon, lock expiry): the AMQP header `delivery-count` of the next delivery. */
  failures: number;
  state: 'active' | 'deferred';
  lock?: { key: string; until: number };
}

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

export interface DeadLetterInfo {
  reason?: string;
  description?: string;
  /** Further application properties to set (the SDK passes `propertiesToModify` this way). */
  properties?: Record<string, unknown>;
}

export interface MessageQueueSettings {
  lockDurationMs: number;
  /** Failed deliveries after which a message is dead-lettered; Infinity for a dead-letter queue itself. */
  maxDeliveryCount: number;
}

export interface MessageQueueHooks {
  /** Moves a message out to the dead-letter queue; absent on a dead-letter queue (nothing below it). */
  deadLetter?: (message: QueuedMessage) => void;
  /** Messages became available: consumers may be waiting. */
  onAvailable: () => void;
}

/** A lock key as carried by management requests (`lock-tokens`) and kept by the broker: 16 bytes, hex. */
export function newLockKey(): Buffer {
  return randomBytes(16);
}

/**
 * A peek-lock queue with Service Bus semantics: messages are delivered in sequence order under a lock that
 * expires, failures (abandon, expiry) count towards `maxDeliveryCount`, and settlement is by lock key, so a
 * holder whose lock expired cannot settle a message someone else now holds.
 */
export class MessageQueue {
  private readonly messages = new Map<number, QueuedMessage>();
  /** Sequence numbers of messages that may be available, ascending; entries are re-checked when taken. */
  private available: number[] = [];
  private readonly locks = new Map<string, QueuedMessage>();

  constructor(
    readonly path: string,
    readonly settings: MessageQueueSettings,
    private readonly hooks: MessageQueueHooks,
  ) {}

  get isDeadLetterQueue(): boolean {
    return this.hooks.deadLetter === undefined;
  }

  enqueue(message: QueuedMessage): void {
    this.messages.set(message.seq, message);
    this.insertAvailable(message.seq);
    this.hooks.onAvailable();
  }

  /** The next available message, locked for `lockKey` (peek-lock) or removed (receive-and-delete). */
  take(mode: ReceiveMode, now: number, lockKey?: Buffer): QueuedMessage | undefined {
    while (this.available.length > 0) {
      const seq = this.available.shift()!;
      const message = this.messages.get(seq);
      if (!message || message.state !== 'active' || message.lock) continue;
      if (mode === 'receiveAndDelete') {
        this.messages.delete(seq);
        return message;
      }
      this.lock(message, lockKey ?? newLockKey(), now);
      return message;
    }
    return undefined;
  }

  hasAvailable(): boolean {
    // Drop stale heads so the answer is exact.
    while (this.available.length > 0) {
      const message = this.messages.get(this.available[0]);
      if (message && message.state === 'active' && !message.lock) return true;
      this.available.shift();
    }
    return false;
  }

  /** The message a lock key holds, if the lock is still current. */
  holder(key: string): QueuedMessage | undefined {
    return this.locks.get(key);
  }

  complete(key: string): boolean {
    const message = this.unlock(key);
    if (!message) return false;
    this.messages.delete(message.seq);
    return true;
  }

  /** Gives the message back; counts as a failed delivery, which may dead-letter it. */
  abandon(key: string, properties?: Record<string, unknown>): boolean {
    const message = this.unlock(key);
    if (!message) return false;
    if (properties) modifyProperties(message, properties);
    this.fail(message);
    return true;
  }

  deadLetter(key: string, info: DeadLetterInfo): boolean {
    const message = this.locks.get(key);
    if (!message || !this.hooks.deadLetter) return false;
    this.unlock(key);
    this.moveToDeadLetter(message, info);
    return true;
  }

  /** Sets the message aside: only `receive-by-sequence-number` gets it again. */
  defer(key: string, properties?: Record<string, unknown>): boolean {
    const message = this.unlock(key);
    if (!message) return false;
    if (properties) modifyProperties(message, properties);
    message.state = 'deferred';
    return true;
  }

  /** Extends a lock by the lock duration; undefined when the lock is no longer held. */
  renew(key: string, now: number): number | undefined {
    const message = this.locks.get(key);
    if (!message?.lock) return undefined;
    message.lock.until = now + this.settings.lockDurationMs;
    return message.lock.until;
  }

  /** Expired locks end in a failed delivery, as if the holder had abandoned. */
  expireLocks(now: number): void {
    for (const [key, message] of this.locks) {
      if (message.lock && message.lock.until <= now) {
        this.unlock(key);
        this.fail(message);
      }
    }
  }

  /** Active and deferred messages from a sequence number on, in order, without locking them. */
  peek(fromSeq: number, count: number): QueuedMessage[] {
    const found: QueuedMessage[] = [];
    for (const message of [...this.messages.values()].sort((a, b) => a.seq - b.seq)) {
      if (message.seq < fromSeq) continue;
      found.push(message);
      if (found.length >= count) break;
    }
    return found;
  }

  /** Deferred messages by sequence number, locked (peek-lock) or removed (receive-and-delete). */
  takeDeferred(seqs: readonly number[], mode: ReceiveMode, now: number): QueuedMessage[] {
    const taken: QueuedMessage[] = [];
    for (const seq of seqs) {
      const message = this.messages.get(seq);
      if (!message || message.state !== 'deferred' || message.lock) continue;
      if (mode === 'receiveAndDelete') this.messages.delete(seq);
      else this.lock(message, newLockKey(), now);
      taken.push(message);
    }
    return taken;
  }

  counts(): { active: number; locked: number; deferred: number } {
    let deferred = 0;
    for (const message of this.messages.values()) if (message.state === 'deferred') deferred++;
    return { active: this.messages.size - deferred, locked: this.locks.size, deferred };
  }

  /** Removes every message (entity deletion). */
  clear(): void {
    this.messages.clear();
    this.locks.clear();
    this.available = [];
  }

  private lock(message: QueuedMessage, key: Buffer, now: number): void {
    const hex = key.toString('hex');
    message.lock = { key: hex, until: now + this.settings.lockDurationMs };
    this.locks.set(hex, message);
  }

  private unlock(key: string): QueuedMessage | undefined {
    const message = this.locks.get(key);
    if (!message) return undefined;
    this.locks.delete(key);
    message.lock = undefined;
    return message;
  }

  private fail(message: QueuedMessage): void {
    message.failures++;
    if (message.failures >= this.settings.maxDeliveryCount && this.hooks.deadLetter) {
      this.moveToDeadLetter(message, {
        reason: MAX_DELIVERY_COUNT_EXCEEDED,
        description: `Message could not be consumed after ${message.failures} delivery attempts.`,
      });
      return;
    }
    if (message.state === 'active') {
      this.insertAvailable(message.seq);
      this.hooks.onAvailable();
    }
  }

  private moveToDeadLetter(message: QueuedMessage, info: DeadLetterInfo): void {
    this.messages.delete(message.seq);
    modifyProperties(message, {
      ...info.properties,
      ...(info.reason !== undefined ? { DeadLetterReason: info.reason } : {}),
      ...(info.description !== undefined ? { DeadLetterErrorDescription: info.description } : {}),
    });
    this.hooks.deadLetter!(message);
  }

  private insertAvailable(seq: number): void {
    const list = this.available;
    if (list.length === 0 || list[list.length - 1] < seq) {
      list.push(seq);
      return;
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    if (list[lo] !== seq) list.splice(lo, 0, seq);
  }
}

function modifyProperties(message: QueuedMessage, properties: Record<string, unknown>): void {
  if (Object.keys(properties).length === 0) return;
  message.amqp = {
    ...message.amqp,
    application_properties: { ...(message.amqp.application_properties ?? {}), ...properties },
  };
}
