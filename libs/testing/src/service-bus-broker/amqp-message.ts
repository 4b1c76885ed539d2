import { message as amqpCodec, types } from 'rhea';
import type { QueuedMessage } from './message-queue';

/** An AMQP message in rhea's decoded form (properties flattened, sections as fields). */
export interface AmqpMessage {
  message_id?: unknown;
  correlation_id?: unknown;
  subject?: string;
  to?: string;
  reply_to?: string;
  content_type?: string;
  group_id?: string;
  reply_to_group_id?: string;
  delivery_count?: number;
  application_properties?: Record<string, unknown>;
  message_annotations?: Record<string, unknown>;
  delivery_annotations?: Record<string, unknown>;
  body?: unknown;
  [field: string]: unknown;
}

/** Message format of a Service Bus batch: the body is one data section per encoded message. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

export const ANNOTATION = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  lockedUntil: 'x-opt-locked-until',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  messageState: 'x-opt-message-state',
} as const;

/** `x-opt-message-state` values as the SDK reads them. */
export const MESSAGE_STATE = { active: 0, deferred: 1, scheduled: 2 } as const;

/** Splits a transfer into the messages it carries: one, or each data section of a batch. */
export function messagesOfTransfer(payload: unknown, format: number | undefined): AmqpMessage[] {
  if (!format) return [stripDeliveryAnnotations(payload as AmqpMessage)];
  if (format !== BATCH_MESSAGE_FORMAT || !Buffer.isBuffer(payload)) {
    throw new Error(`unsupported message format ${format}`);
  }
  const envelope = amqpCodec.decode(payload) as AmqpMessage;
  const section = envelope.body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  if (!section || section.typecode !== 0x75) throw new Error('batch body is not data sections');
  const parts = section.multiple ? (section.content as Buffer[]) : [section.content as Buffer];
  return parts.map((part) => stripDeliveryAnnotations(amqpCodec.decode(part) as AmqpMessage));
}

function stripDeliveryAnnotations(message: AmqpMessage): AmqpMessage {
  const { delivery_annotations: _ignored, ...rest } = message;
  return rest;
}

/** The message id as a string (ids may be strings, uuids, numbers or binary on the wire). */
export function messageIdOf(message: AmqpMessage): string | undefined {
  const id = message.message_id;
  if (id === undefined || id === null) return undefined;
  return Buffer.isBuffer(id) ? id.toString('hex') : String(id);
}

export function scheduledTimeOf(message: AmqpMessage): number | undefined {
  const value = message.message_annotations?.[ANNOTATION.scheduledEnqueueTime];
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  return undefined;
}

/** The message as the broker hands it out: the stored message plus sequence, times and delivery count. */
export function outgoingMessage(
  queued: QueuedMessage,
  extra: { lockedUntil?: number; state?: number } = {},
): AmqpMessage {
  const annotations: Record<string, unknown> = {
    ...(queued.amqp.message_annotations ?? {}),
    [ANNOTATION.sequenceNumber]: types.wrap_long(queued.seq),
    [ANNOTATION.enqueuedTime]: new Date(queued.enqueuedAt),
  };
  if (extra.lockedUntil !== undefined) annotations[ANNOTATION.lockedUntil] = new Date(extra.lockedUntil);
  if (extra.state !== undefined && extra.state !== MESSAGE_STATE.active) {
    annotations[ANNOTATION.messageState] = types.wrap_int(extra.state);
  }
  return { ...queued.amqp, delivery_count: queued.failures, message_annotations: annotations };
}

export function encodeMessage(message: AmqpMessage): Buffer {
  return amqpCodec.encode(message);
}

export function decodeMessage(bytes: Buffer): AmqpMessage {
  return amqpCodec.decode(bytes) as AmqpMessage;
}

/**
 * The SDK turns a delivery tag into a lock token by swapping the byte order of the first three GUID fields
 * (.NET layout), and sends that token back in management requests. Tags are therefore the swapped form of
 * the broker's lock key; the swap is its own inverse.
 */
export function swapGuidBytes(bytes: Buffer): Buffer {
  if (bytes.length !== 16) return Buffer.from(bytes);
  return Buffer.from([
    bytes[3],
    bytes[2],
    bytes[1],
    bytes[0],
    bytes[5],
    bytes[4],
    bytes[7],
    bytes[6],
    ...bytes.subarray(8),
  ]);
}

/** A lock token as management requests carry it (uuid bytes), in the broker's key form. */
export function lockKeyOf(token: unknown): string | undefined {
  if (Buffer.isBuffer(token) && token.length === 16) return token.toString('hex');
  if (typeof token === 'string' && /^[0-9a-f-]{36}$/i.test(token))
    return token.replace(/-/g, '').toLowerCase();
  return undefined;
}

/** Sequence numbers as management requests carry them: longs, decoded as numbers or 8-byte buffers. */
export function sequenceNumberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  return undefined;
}
