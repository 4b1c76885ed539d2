import { z } from 'zod';
import { cloudEventEnvelopeSchema } from './cloudevent';
import { EVENT_SCHEMAS, EVENT_TYPES } from './events';

export const TOPIC = 'twin-events';

/** The AsyncAPI 3.0 document of the `twin-events` topic, generated from the same schemas that validate. */
export function buildAsyncApiDocument(): Record<string, unknown> {
  const envelope = z.toJSONSchema(cloudEventEnvelopeSchema.omit({ data: true }), { io: 'input' });
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = { CloudEventEnvelope: envelope };
  for (const type of EVENT_TYPES) {
    const name = type.replace(/\./g, '_');
    schemas[name] = z.toJSONSchema(EVENT_SCHEMAS[type], { io: 'input', unrepresentable: 'any' });
    messages[name] = {
      name: type,
      title: type,
      contentType: 'application/cloudevents+json',
      headers: { $ref: '#/components/schemas/CloudEventEnvelope' },
      payload: { $ref: `#/components/schemas/${name}` },
      correlationId: { location: '$message.header#/id' },
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'twinstore events',
      version: '1.0.0',
      description:
        'CloudEvents 1.0 published on one topic; every consumer has its own subscription, dead-letter queue and ' +
        'max delivery count. subject = leadId; id = message id (duplicate detection). Consumers are idempotent ' +
        'and version-guarded.',
    },
    channels: {
      [TOPIC]: {
        address: TOPIC,
        messages: Object.fromEntries(
          Object.keys(messages).map((m) => [m, { $ref: `#/components/messages/${m}` }]),
        ),
      },
    },
    operations: {
      publishTwinEvents: { action: 'send', channel: { $ref: `#/channels/${TOPIC}` } },
    },
    components: { messages, schemas },
  };
}
