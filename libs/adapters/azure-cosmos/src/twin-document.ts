import { TwinMetadata, TwinRecord, Version } from '@twinstore/domain';

/**
 * The catalog document: the seed's minimal shape (`id`, `partition_key`, `lead_classification`, `age`,
 * `income`, `location`, `last_updated`, `blob_path`, `search_tags`) plus what version guards and projections
 * need (`version`, `content_hash`, `size`, `metadata_extra`).
 *
 * `partition_key` keeps the seed's name but holds the leadId (ADR 0006): point reads by leadId, even spread.
 *
 * Deletion: `deleted_version` is the newest deletion seen for the lead. When no record newer than it exists,
 * the document is a tombstone: `deleted: true` and none of the personal fields. A record written after the
 * deletion lives in the same document and keeps `deleted_version`, so a late older event still meets it.
 */
export interface TwinDocument {
  id: string;
  partition_key: string;
  lead_classification?: TwinMetadata['classification'];
  age?: number;
  income?: number;
  location?: string;
  /** The version's save time (ISO 8601, UTC). */
  last_updated?: string;
  blob_path?: string;
  search_tags?: string[];
  version?: Version;
  content_hash?: string;
  size?: number;
  metadata_extra?: Record<string, unknown>;
  deleted?: true;
  deleted_version?: Version;
}

/** System properties Cosmos adds; read back with the document, never written by us. */
export interface StoredTwinDocument extends TwinDocument {
  _etag?: string;
  _ts?: number;
}

export function toDocument(record: TwinRecord, deletedVersion: Version | undefined): TwinDocument {
  const { metadata } = record;
  const doc: TwinDocument = {
    id: record.leadId,
    partition_key: record.leadId,
    lead_classification: metadata.classification,
    last_updated: record.savedAt,
    blob_path: record.blobPath,
    search_tags: metadata.tags,
    version: record.version,
    content_hash: record.contentHash,
    size: record.size,
    metadata_extra: metadata.extra,
  };
  // Absent rather than null: a missing field is what the seed's queries (IS_DEFINED) and the record expect.
  if (metadata.age !== undefined) doc.age = metadata.age;
  if (metadata.income !== undefined) doc.income = metadata.income;
  if (metadata.location !== undefined) doc.location = metadata.location;
  if (deletedVersion !== undefined) doc.deleted_version = deletedVersion;
  return doc;
}

export function tombstoneDocument(leadId: string, version: Version): TwinDocument {
  return { id: leadId, partition_key: leadId, deleted: true, deleted_version: version };
}

/** The record of a live document, or null for a tombstone. */
export function toRecord(doc: TwinDocument): TwinRecord | null {
  if (doc.deleted || doc.version === undefined) return null;
  const metadata: TwinMetadata = {
    classification: doc.lead_classification ?? 'warm',
    tags: doc.search_tags ?? [],
    extra: doc.metadata_extra ?? {},
  };
  if (doc.age !== undefined && doc.age !== null) metadata.age = doc.age;
  if (doc.income !== undefined && doc.income !== null) metadata.income = doc.income;
  if (doc.location !== undefined && doc.location !== null) metadata.location = doc.location;
  return {
    leadId: doc.id,
    version: doc.version,
    blobPath: doc.blob_path ?? '',
    contentHash: doc.content_hash ?? '',
    size: doc.size ?? 0,
    savedAt: doc.last_updated ?? '',
    metadata,
  };
}

/** The fields list() and raw readers select: the document without Cosmos' system properties. */
export const DOCUMENT_FIELDS = [
  'id',
  'partition_key',
  'lead_classification',
  'age',
  'income',
  'location',
  'last_updated',
  'blob_path',
  'search_tags',
  'version',
  'content_hash',
  'size',
  'metadata_extra',
  'deleted',
  'deleted_version',
] as const satisfies readonly (keyof TwinDocument)[];
