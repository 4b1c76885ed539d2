import { createHash } from 'node:crypto';
import { BundleLocation, TwinActivity } from '@twinstore/application';
import { Tier, TIERS, Version } from '@twinstore/domain';

/**
 * Key design of the activity table.
 *
 * PartitionKey = one of 256 buckets (`00`..`ff`, the first byte of sha256(leadId)), RowKey = leadId.
 *
 * - Every operation of the port starts from a leadId, and the bucket is computed from it, so each is a point
 *   read/write (PartitionKey + RowKey), the cheapest Table operation.
 * - 256 partitions spread load: Table serves about 2,000 entities/s per partition, so even a sweep that
 *   re-tiers millions of twins is bounded by the account (20,000 requests/s), not by one hot partition.
 * - Many twins share a partition, so the sweep can re-tier them 100 at a time in one entity-group
 *   transaction (one partition per transaction is the service's rule).
 *
 * Why not the seed's `PartitionKey = YYYY-MM`: the month of *what*? Every write and access moves a twin's
 * month, so its key would change on each write (a delete plus an insert across two partitions, which Table
 * cannot do atomically, breaking the version guard), a reader would have to know the month to find a lead
 * (a scan of every partition otherwise), and all current traffic would hit the current month's partition.
 * YYYY-MM fits append-only, time-ranged data that is written once and read by period: the warm-record
 * snapshots and interaction logs of the warm table, where a row never moves and the question is "what
 * happened in March".
 *
 * The bucket count is part of the stored data's address: changing it means rewriting the table.
 */
export const ACTIVITY_BUCKETS = 256;

export function activityPartitionKey(leadId: string): string {
  return createHash('sha256').update(leadId, 'utf8').digest().subarray(0, 1).toString('hex');
}

/**
 * One entity per lead. A live twin has `Deleted: false` and its activity; a lead whose newest event is a
 * deletion is a tombstone (`Deleted: true`, only `DeletedVersion`). A twin written after its deletion keeps
 * `DeletedVersion`, so a late older write still meets the guard. Times are epoch milliseconds as Edm.Int64,
 * so the sweep filters on them numerically; `LastActivityMs` is the later of write and access.
 */
export interface ActivityEntity {
  partitionKey: string;
  rowKey: string;
  Deleted: boolean;
  DeletedVersion?: string;
  Version?: string;
  LastWriteMs?: bigint;
  LastAccessMs?: bigint;
  LastActivityMs?: bigint;
  Tier?: Tier;
  /** Cold twins: the bundle blob and byte range holding the bytes (the bundle offset index). */
  Bundle?: string;
  BundleOffset?: number;
  BundleLength?: number;
  /** Bundles of earlier placements (comma-separated paths): erasure rewrites them too. */
  RetiredBundles?: string;
}

export interface LiveActivity {
  version: Version;
  lastWriteMs: number;
  lastAccessMs: number | null;
  tier: Tier;
  deletedVersion?: Version;
  location?: BundleLocation;
  retired?: string[];
}

export function liveEntity(leadId: string, activity: LiveActivity): ActivityEntity {
  const lastActivity = Math.max(activity.lastWriteMs, activity.lastAccessMs ?? activity.lastWriteMs);
  const entity: ActivityEntity = {
    partitionKey: activityPartitionKey(leadId),
    rowKey: leadId,
    Deleted: false,
    Version: activity.version,
    LastWriteMs: BigInt(activity.lastWriteMs),
    LastActivityMs: BigInt(lastActivity),
    Tier: activity.tier,
  };
  if (activity.lastAccessMs !== null) entity.LastAccessMs = BigInt(activity.lastAccessMs);
  if (activity.deletedVersion !== undefined) entity.DeletedVersion = activity.deletedVersion;
  if (activity.location) {
    entity.Bundle = activity.location.bundle;
    entity.BundleOffset = activity.location.offset;
    entity.BundleLength = activity.location.length;
  }
  if (activity.retired && activity.retired.length > 0) entity.RetiredBundles = activity.retired.join(',');
  return entity;
}

export function tombstoneEntity(leadId: string, version: Version): ActivityEntity {
  return {
    partitionKey: activityPartitionKey(leadId),
    rowKey: leadId,
    Deleted: true,
    DeletedVersion: version,
  };
}

/** The live activity of a stored entity, or null for a tombstone. */
export function readLive(entity: Record<string, unknown>): LiveActivity | null {
  if (entity['Deleted'] !== false || typeof entity['Version'] !== 'string') return null;
  const tier = entity['Tier'];
  const deletedVersion = entity['DeletedVersion'];
  const bundle = entity['Bundle'];
  const offset = entity['BundleOffset'];
  const length = entity['BundleLength'];
  const retired = typeof entity['RetiredBundles'] === 'string' ? entity['RetiredBundles'].split(',') : [];
  return {
    version: entity['Version'] as Version,
    lastWriteMs: toMs(entity['LastWriteMs']) ?? 0,
    lastAccessMs: toMs(entity['LastAccessMs']),
    tier: TIERS.includes(tier as Tier) ? (tier as Tier) : 'hot',
    ...(typeof deletedVersion === 'string' ? { deletedVersion: deletedVersion as Version } : {}),
    ...(typeof bundle === 'string' && typeof offset === 'number' && typeof length === 'number'
      ? { location: { bundle, offset, length } }
      : {}),
    ...(retired.length > 0 ? { retired } : {}),
  };
}

/** The retired bundles after the location changes to `next` (the old bundle joins them). */
export function retireBundle(live: LiveActivity, next?: BundleLocation): string[] | undefined {
  const old = live.location?.bundle;
  if (!old || old === next?.bundle) return live.retired;
  return [...new Set([...(live.retired ?? []), old])];
}

export function deletedVersionOf(entity: Record<string, unknown>): Version | undefined {
  const v = entity['DeletedVersion'];
  return typeof v === 'string' ? (v as Version) : undefined;
}

export function lastActivityMs(live: LiveActivity): number {
  return Math.max(live.lastWriteMs, live.lastAccessMs ?? live.lastWriteMs);
}

export function toTwinActivity(leadId: string, live: LiveActivity): TwinActivity {
  return {
    leadId,
    version: live.version,
    lastWriteAt: new Date(live.lastWriteMs).toISOString(),
    lastAccessAt: live.lastAccessMs === null ? null : new Date(live.lastAccessMs).toISOString(),
    tier: live.tier,
  };
}

/** The SDK returns Int64 as bigint; older service paths or hand-edited rows may hold numbers or strings. */
export function toMs(value: unknown): number | null {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  if (typeof value === 'object' && value !== null && 'value' in value)
    return toMs((value as { value: unknown }).value);
  return null;
}
