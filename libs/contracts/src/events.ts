import { z } from 'zod';
import { LEAD_ID_PATTERN, twinMetadataSchema, VERSION_PATTERN } from '@twinstore/domain';
import { cloudEventEnvelopeSchema } from './cloudevent';

const leadId = z.string().regex(LEAD_ID_PATTERN);
const version = z.string().regex(VERSION_PATTERN);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** Content at or below this size travels inline in `twin.saved.v1`; larger content is a claim check. */
export const INLINE_CONTENT_MAX_BYTES = 96 * 1024;

export const twinSavedV1Schema = z
  .object({
    leadId,
    version,
    blobPath: z.string().min(1).max(1024),
    contentHash: sha256,
    size: z.number().int().min(0),
    contentType: z.literal('text/markdown'),
    savedAt: z.iso.datetime({ offset: true }),
    metadata: twinMetadataSchema,
    /** The markdown, UTF-8, when it is small enough to travel inline. Absent: read `blobPath` (claim check). */
    markdown: z.string().optional(),
  })
  .strict();

export const twinDeletedV1Schema = z
  .object({
    leadId,
    /** The version of the deletion: every version older than it is erased. */
    version,
    deletedAt: z.iso.datetime({ offset: true }),
  })
  .strict();

export const twinAccessedV1Schema = z
  .object({
    leadId,
    accessedAt: z.iso.datetime({ offset: true }),
  })
  .strict();

const tier = z.enum(['hot', 'warm', 'cold']);

/** A twin moved between storage tiers (hot = catalog + Hot blob, warm = table + Cool, cold = Archive bundle). */
export const twinTierChangedV1Schema = z
  .object({
    leadId,
    /** The version that moved. */
    version,
    from: tier,
    to: tier,
    at: z.iso.datetime({ offset: true }),
  })
  .strict()
  .describe(
    'A twin moved between storage tiers: hot (catalog, Hot blob), warm (Cool blob), cold (Archive bundle). ' +
      'Published by the tiering sweep (hot->warm, ->cold), promotion (a read or write of a warm or cold twin) ' +
      'and rehydration (cold->hot). Ids and times only, no personal data.',
  );

/** A cold twin's rehydration job completed: the version is readable (and hot) again. */
export const twinRehydratedV1Schema = z
  .object({
    leadId,
    version,
    jobId: z.string().min(1).max(200),
    at: z.iso.datetime({ offset: true }),
  })
  .strict()
  .describe(
    'The rehydration job of a cold twin completed: the version is back in the Hot tier and readable ' +
      '(GET /v1/twins/{leadId}); the job is /v1/rehydrations/{jobId}.',
  );

export type TwinSavedV1 = z.output<typeof twinSavedV1Schema>;
export type TwinDeletedV1 = z.output<typeof twinDeletedV1Schema>;
export type TwinAccessedV1 = z.output<typeof twinAccessedV1Schema>;
export type TwinTierChangedV1 = z.output<typeof twinTierChangedV1Schema>;
export type TwinRehydratedV1 = z.output<typeof twinRehydratedV1Schema>;

/** Every event type this system emits, with its data schema. One place: the AsyncAPI document is built from it. */
export const EVENT_SCHEMAS = {
  'twin.saved.v1': twinSavedV1Schema,
  'twin.deleted.v1': twinDeletedV1Schema,
  'twin.accessed.v1': twinAccessedV1Schema,
  'twin.tier-changed.v1': twinTierChangedV1Schema,
  'twin.rehydrated.v1': twinRehydratedV1Schema,
} as const;

export type EventType = keyof typeof EVENT_SCHEMAS;
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

export interface EventDataMap {
  'twin.saved.v1': TwinSavedV1;
  'twin.deleted.v1': TwinDeletedV1;
  'twin.accessed.v1': TwinAccessedV1;
  'twin.tier-changed.v1': TwinTierChangedV1;
  'twin.rehydrated.v1': TwinRehydratedV1;
}

export type TwinEvent = {
  [K in EventType]: Omit<z.output<typeof cloudEventEnvelopeSchema>, 'type' | 'data'> & {
    type: K;
    subject: string;
    data: EventDataMap[K];
  };
}[EventType];

export type TwinEventOf<K extends EventType> = Extract<TwinEvent, { type: K }>;

export const EVENT_SOURCE = '/twinstore';
