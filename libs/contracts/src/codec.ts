import { randomUUID } from 'node:crypto';
import { cloudEventEnvelopeSchema } from './cloudevent';
import { EVENT_SCHEMAS, EVENT_SOURCE, EventDataMap, EventType, TwinEvent, TwinEventOf } from './events';

export class EventValidationError extends Error {
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(message);
    this.name = 'EventValidationError';
  }
}

/** Build a CloudEvent of a known type; the data is validated here too, so a bad event is never published. */
export function createEvent<K extends EventType>(
  type: K,
  data: EventDataMap[K],
  opts: { id?: string; time?: Date; traceparent?: string; source?: string } = {},
): TwinEventOf<K> {
  const event = {
    specversion: '1.0' as const,
    id: opts.id ?? randomUUID(),
    source: opts.source ?? EVENT_SOURCE,
    type,
    subject: (data as { leadId: string }).leadId,
    time: (opts.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json' as const,
    ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
    data,
  };
  return validateEvent(event) as TwinEventOf<K>;
}

/** Validate an envelope and its data against the schema of its type. Throws EventValidationError. */
export function validateEvent(raw: unknown): TwinEvent {
  const envelope = cloudEventEnvelopeSchema.safeParse(raw);
  if (!envelope.success) {
    throw new EventValidationError(
      'not a CloudEvents 1.0 envelope',
      envelope.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  const schema = EVENT_SCHEMAS[envelope.data.type as EventType];
  if (!schema) throw new EventValidationError(`unknown event type ${envelope.data.type}`, []);
  const data = schema.safeParse(envelope.data.data);
  if (!data.success) {
    throw new EventValidationError(
      `invalid ${envelope.data.type} data`,
      data.error.issues.map((i) => `data.${i.path.join('.')}: ${i.message}`),
    );
  }
  if (envelope.data.subject !== (data.data as { leadId: string }).leadId) {
    throw new EventValidationError('subject must equal data.leadId', ['subject']);
  }
  return { ...envelope.data, data: data.data } as TwinEvent;
}

/** Structured-mode JSON encoding (the embedded bus stores this). */
export function encodeEvent(event: TwinEvent): string {
  return JSON.stringify(event);
}

export function decodeEvent(json: string): TwinEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new EventValidationError('event is not JSON', []);
  }
  return validateEvent(raw);
}
