import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import { EventValidationError, TwinEvent, validateEvent } from '@twinstore/contracts';
import { NOT_JSON } from './failure-reason';

/**
 * CloudEvents binary content mode on Service Bus: the event data is the body (JSON), the context attributes
 * travel as `ce-*` application properties and the trace context as `traceparent` (the event contract in libs/contracts).
 */
export const CE_PROPERTY = {
  specversion: 'ce-specversion',
  id: 'ce-id',
  source: 'ce-source',
  type: 'ce-type',
  subject: 'ce-subject',
  time: 'ce-time',
  dataschema: 'ce-dataschema',
  traceparent: 'traceparent',
} as const;

/** Application properties the adapter adds to dead letters and redriven messages (not CloudEvents attributes). */
export const BUS_PROPERTY = {
  /** The reason of the last retry, kept on the message so a broker-side dead letter still says why. */
  retryReason: 'twinstore-retry-reason',
  /** Deliveries made before the adapter dead-lettered the message. */
  deliveries: 'twinstore-deliveries',
  deadLetteredAt: 'twinstore-dead-lettered-at',
  /** A redriven message is meant for this subscription only (its rule routes on it). */
  redriveTo: 'twinstore-redrive-to',
} as const;

export const JSON_CONTENT_TYPE = 'application/json';

export function toServiceBusMessage(event: TwinEvent): ServiceBusMessage {
  const properties: Record<string, string> = {
    [CE_PROPERTY.specversion]: event.specversion,
    [CE_PROPERTY.id]: event.id,
    [CE_PROPERTY.source]: event.source,
    [CE_PROPERTY.type]: event.type,
    [CE_PROPERTY.subject]: event.subject,
    [CE_PROPERTY.time]: event.time,
  };
  if (event.dataschema !== undefined) properties[CE_PROPERTY.dataschema] = event.dataschema;
  if (event.traceparent !== undefined) properties[CE_PROPERTY.traceparent] = event.traceparent;
  return {
    // Service Bus duplicate detection works on the message id: a republished event is dropped in the window.
    messageId: event.id,
    // The type as subject lets subscription rules route by type without reading application properties.
    subject: event.type,
    contentType: event.datacontenttype,
    body: Buffer.from(JSON.stringify(event.data), 'utf8'),
    applicationProperties: properties,
  };
}

/** The envelope as the message carries it, unvalidated (the data is parsed JSON, or undefined). */
export function envelopeOf(
  message: Pick<ServiceBusReceivedMessage, 'applicationProperties' | 'body' | 'contentType'>,
): {
  envelope: Record<string, unknown>;
  dataIsJson: boolean;
} {
  const props = message.applicationProperties ?? {};
  const envelope: Record<string, unknown> = {};
  for (const [attribute, property] of Object.entries(CE_PROPERTY)) {
    const value = props[property];
    if (value !== undefined && value !== null) envelope[attribute] = value;
  }
  if (message.contentType !== undefined) envelope.datacontenttype = message.contentType;
  const data = parseBody(message.body);
  if (data.ok) envelope.data = data.value;
  return { envelope, dataIsJson: data.ok };
}

/** Decodes and validates: throws EventValidationError for anything that is not a valid event of a known type. */
export function fromServiceBusMessage(
  message: Pick<ServiceBusReceivedMessage, 'applicationProperties' | 'body' | 'contentType'>,
): TwinEvent {
  const { envelope, dataIsJson } = envelopeOf(message);
  if (!dataIsJson) throw new EventValidationError(NOT_JSON, []);
  return validateEvent(envelope);
}

function parseBody(body: unknown): { ok: true; value: unknown } | { ok: false } {
  // The receivers skip the SDK's own JSON parsing, so the body is the raw data section.
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : undefined;
  if (text === undefined) return body === undefined ? { ok: false } : { ok: true, value: body };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
