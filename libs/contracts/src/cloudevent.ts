import { z } from 'zod';

/** CloudEvents 1.0 structured envelope (JSON). `traceparent` is the W3C distributed-tracing extension. */
export const cloudEventEnvelopeSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(128),
  source: z.string().min(1).max(256),
  type: z.string().min(1).max(128),
  subject: z.string().min(1).max(256).optional(),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal('application/json').default('application/json'),
  dataschema: z.string().optional(),
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
  data: z.unknown(),
});

export type CloudEventEnvelope = z.output<typeof cloudEventEnvelopeSchema>;
