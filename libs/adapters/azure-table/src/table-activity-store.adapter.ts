import { setTimeout as sleep } from 'node:timers/promises';
import { odata, TableClient, TableEntity, TransactionAction } from '@azure/data-tables';
import {
  ActivityStore,
  ActivityWrite,
  ApplyResult,
  BundleLocation,
  TierCandidate,
  TierLedger,
  TierPlacement,
  TwinActivity,
} from '@twinstore/application';
import { createTableClient, TableConnectionOptions } from './table-client';
import { deriveTier, parseLeadId, Tier, TierThresholds, TIERS, Version } from '@twinstore/domain';
import {
  activityPartitionKey,
  ActivityEntity,
  deletedVersionOf,
  lastActivityMs,
  liveEntity,
  readLive,
  retireBundle,
  toMs,
  tombstoneEntity,
  toTwinActivity,
} from './activity-entity';

export interface TableActivityStoreOptions extends TableConnectionOptions {
  /** Default `twinactivity`. */
  table?: string;
  /** Attempts of a guarded write under contention before giving up (default 50). */
  maxConflictRetries?: number;
  /** Entity-group transactions the sweep runs at once (default 8). */
  sweepConcurrency?: number;
}

const DEFAULT_TABLE = 'twinactivity';
/** The service's limit of operations per entity-group transaction. */
export const MAX_TRANSACTION_OPERATIONS = 100;
const PAGE_SIZE = 1000;
/** Row keys per point query: with the partition key, the service's limit of 15 comparisons per filter. */
const KEYS_PER_QUERY = 14;
const DAY_MS = 86_400_000;
// Candidate ranges are widened by this much so that rounding at a threshold can never hide an entity; the
// exact tier is then decided by deriveTier, the domain's own function.
const RANGE_SLACK_MS = 1000;
// Int64 literals must be integers inside the Date range; thresholds of Infinity clamp to these.
const MIN_MS = -8.64e15;
const MAX_MS = 8.64e15;

interface Candidate {
  partitionKey: string;
  rowKey: string;
  etag: string;
  from: Tier;
  to: Tier;
}

/**
 * Tiering bookkeeping on Azure Table Storage, version- and tombstone-guarded like the catalog. Keys and the
 * reason they are not the seed's YYYY-MM are in activity-entity.ts. Every write is read, decide, then a
 * conditional write on the entity's ETag (412 or 409 means another writer got in: decide again).
 */
export class TableActivityStore implements ActivityStore, TierLedger {
  private readonly maxConflictRetries: number;
  private readonly sweepConcurrency: number;

  constructor(
    readonly table: TableClient,
    options: { maxConflictRetries?: number; sweepConcurrency?: number } = {},
  ) {
    this.maxConflictRetries = options.maxConflictRetries ?? 50;
    this.sweepConcurrency = options.sweepConcurrency ?? 8;
  }

  /** Creates the table when missing. Idempotent. */
  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  /** A write makes the twin hot at once: its new version is in the catalog and the hot blob tier. */
  async recordWrite(leadId: string, version: Version, at: Date): Promise<ApplyResult> {
    const atMs = epochMs(at);
    return this.guarded(leadId, (current) => decideWrite({ leadId, version, atMs }, current));
  }

  /**
   * Entity-group transactions of up to 100 twins per partition, with the same guard as `recordWrite`: first
   * a transaction creating every twin, which alone settles a group of twins the table has never seen (one
   * request); a group where one exists (409) is read (one query per 14 twins, the service's limit of
   * comparisons per filter), decided, and written in one transaction of creates and updates conditional on
   * each ETag. A group that meets a concurrent write (412, 409, 404) is settled twin by twin on fresh data.
   */
  async recordWrites(writes: readonly ActivityWrite[]): Promise<ApplyResult[]> {
    const newest = new Map<string, PendingWrite & { write: ActivityWrite }>();
    for (const w of writes) {
      parseLeadId(w.leadId);
      const seen = newest.get(w.leadId);
      if (!seen || seen.version < w.version) {
        newest.set(w.leadId, { leadId: w.leadId, version: w.version, atMs: epochMs(w.at), write: w });
      }
    }
    const byPartition = new Map<string, PendingWrite[]>();
    for (const w of newest.values()) {
      const key = activityPartitionKey(w.leadId);
      byPartition.set(key, [...(byPartition.get(key) ?? []), w]);
    }
    const groups: PendingWrite[][] = [];
    for (const group of byPartition.values()) {
      for (let i = 0; i < group.length; i += MAX_TRANSACTION_OPERATIONS) {
        groups.push(group.slice(i, i + MAX_TRANSACTION_OPERATIONS));
      }
    }
    const settled = new Map<string, ApplyResult>();
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const group = groups[next++];
        for (const [leadId, result] of await this.writeGroup(group)) settled.set(leadId, result);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.sweepConcurrency, groups.length) }, worker));
    // Older writes of a lead in the same call lose to its newest, as they would one after the other.
    return writes.map((w) =>
      newest.get(w.leadId)!.write === w && settled.get(w.leadId) === 'applied' ? 'applied' : 'stale',
    );
  }

  async recordAccess(leadId: string, at: Date): Promise<void> {
    const atMs = epochMs(at);
    await this.guarded(leadId, (current) => {
      const live = current ? readLive(current) : null;
      // Accesses to unknown or deleted leads are not activity worth keeping (and must not resurrect them).
      if (!live || (live.lastAccessMs !== null && live.lastAccessMs >= atMs)) return null;
      return liveEntity(leadId, { ...live, lastAccessMs: atMs });
    });
  }

  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    return this.guarded(leadId, (current) => {
      const deletedVersion = current ? deletedVersionOf(current) : undefined;
      if (deletedVersion !== undefined && deletedVersion >= version) return null;
      const live = current ? readLive(current) : null;
      // A twin at or above the deletion belongs to a write accepted after it, so it stays (deletion noted).
      if (live && live.version >= version) return liveEntity(leadId, { ...live, deletedVersion: version });
      return tombstoneEntity(leadId, version);
    });
  }

  async get(leadId: string): Promise<TwinActivity | null> {
    const current = await this.read(leadId);
    const live = current ? readLive(current.entity) : null;
    return live ? toTwinActivity(leadId, live) : null;
  }

  /**
   * Re-derives the tier of every twin at `now`. One filtered scan returns only the twins whose last
   * activity lies on the wrong side of a threshold for their stored tier; they are re-tiered with
   * entity-group transactions of up to 100 per partition, each update conditional on the ETag the scan saw.
   * A transaction that meets a concurrent write fails as a whole and its twins are re-tiered one by one on
   * fresh data. Returns how many twins changed tier.
   */
  async sweep(now: Date, thresholds: TierThresholds): Promise<number> {
    const nowMs = epochMs(now);
    const { warmAfterDays, coldAfterDays } = thresholds;
    if (![warmAfterDays, coldAfterDays].every((d) => typeof d === 'number' && !Number.isNaN(d))) {
      throw new Error('tier thresholds must be numbers of days');
    }
    const warmCutoff = nowMs - warmAfterDays * DAY_MS;
    const coldCutoff = nowMs - coldAfterDays * DAY_MS;
    // hot: idle past the first threshold; warm: idle past cold, or active again; cold: active again.
    const hotIdle = idleBound(Math.max(warmCutoff, coldCutoff));
    const warmIdle = idleBound(coldCutoff);
    const warmActive = activeBound(warmCutoff);
    const coldActive = activeBound(coldCutoff);
    const filter = odata`Deleted eq false and ((Tier eq ${'hot'} and LastActivityMs le ${hotIdle}L) or (Tier eq ${'warm'} and (LastActivityMs le ${warmIdle}L or LastActivityMs gt ${warmActive}L)) or (Tier eq ${'cold'} and LastActivityMs gt ${coldActive}L))`;

    let changed = 0;
    const pages = this.table
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['PartitionKey', 'RowKey', 'Tier', 'LastActivityMs', 'Bundle'] },
      })
      .byPage({ maxPageSize: PAGE_SIZE });
    for await (const page of pages) {
      const byPartition = new Map<string, Candidate[]>();
      for (const entity of page) {
        const activity = toMs(entity['LastActivityMs']);
        const from = entity['Tier'] as Tier;
        if (activity === null || !TIERS.includes(from)) continue;
        // Bundled (cold) twins keep their label: only the tier lifecycle moves them.
        if (typeof entity['Bundle'] === 'string') continue;
        const to = deriveTier(new Date(activity), now, thresholds);
        if (to === from) continue;
        const candidate = {
          partitionKey: entity.partitionKey!,
          rowKey: entity.rowKey!,
          etag: entity.etag,
          from,
          to,
        };
        const group = byPartition.get(candidate.partitionKey) ?? [];
        group.push(candidate);
        byPartition.set(candidate.partitionKey, group);
      }
      const transactions: Candidate[][] = [];
      for (const group of byPartition.values()) {
        for (let i = 0; i < group.length; i += MAX_TRANSACTION_OPERATIONS) {
          transactions.push(group.slice(i, i + MAX_TRANSACTION_OPERATIONS));
        }
      }
      changed += await this.runTransactions(transactions, now, thresholds);
    }
    return changed;
  }

  /** Hot and warm twins whose tier at `now` differs from their placement (one filtered scan). */
  async tierCandidates(now: Date, thresholds: TierThresholds, limit: number): Promise<TierCandidate[]> {
    const nowMs = epochMs(now);
    const warmCutoff = nowMs - thresholds.warmAfterDays * DAY_MS;
    const coldCutoff = nowMs - thresholds.coldAfterDays * DAY_MS;
    const hotIdle = idleBound(Math.max(warmCutoff, coldCutoff));
    const warmIdle = idleBound(coldCutoff);
    const warmActive = activeBound(warmCutoff);
    const filter = odata`Deleted eq false and ((Tier eq ${'hot'} and LastActivityMs le ${hotIdle}L) or (Tier eq ${'warm'} and (LastActivityMs le ${warmIdle}L or LastActivityMs gt ${warmActive}L)))`;
    const out: TierCandidate[] = [];
    const pages = this.table
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['RowKey', 'Tier', 'LastActivityMs', 'Version'] },
      })
      .byPage({ maxPageSize: PAGE_SIZE });
    for await (const page of pages) {
      for (const entity of page) {
        const activity = toMs(entity['LastActivityMs']);
        const from = entity['Tier'] as Tier;
        if (activity === null || !TIERS.includes(from) || typeof entity['Version'] !== 'string') continue;
        const to = deriveTier(new Date(activity), now, thresholds);
        if (to === from) continue;
        out.push({ leadId: entity.rowKey!, version: entity['Version'] as Version, from, to });
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  async setPlacement(
    leadId: string,
    version: Version,
    tier: Tier,
    location?: BundleLocation,
    retire?: readonly string[],
  ): Promise<ApplyResult> {
    return this.guarded(leadId, (current) => {
      const live = current ? readLive(current) : null;
      if (!live || live.version !== version) return null;
      const { location: _old, ...rest } = live;
      const retired = [
        ...new Set([
          ...(retireBundle(live, location) ?? []),
          ...(retire ?? []).filter((b) => b.length > 0 && b !== location?.bundle),
        ]),
      ];
      return liveEntity(leadId, {
        ...rest,
        tier,
        retired: retired.length > 0 ? retired : undefined,
        ...(location ? { location } : {}),
      });
    });
  }

  async bundleMembers(
    bundle: string,
  ): Promise<{ leadId: string; version: Version; location: BundleLocation }[]> {
    const out: { leadId: string; version: Version; location: BundleLocation }[] = [];
    const entities = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`Deleted eq false and Bundle eq ${bundle}` },
    });
    for await (const entity of entities) {
      const live = readLive(entity);
      if (live?.location?.bundle === bundle) {
        out.push({ leadId: entity.rowKey!, version: live.version, location: live.location });
      }
    }
    return out.sort((a, b) => a.location.offset - b.location.offset);
  }

  /** One filtered scan of the bundled twins (Bundle present), reading only that property. */
  async bundleLiveCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const entities = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`Deleted eq false and Bundle ge ${''}`, select: ['Bundle'] },
    });
    for await (const page of entities.byPage({ maxPageSize: PAGE_SIZE })) {
      for (const entity of page) {
        const bundle = entity['Bundle'];
        if (typeof bundle === 'string') counts.set(bundle, (counts.get(bundle) ?? 0) + 1);
      }
    }
    return counts;
  }

  async locate(leadId: string): Promise<TierPlacement | null> {
    const current = await this.read(leadId);
    const live = current ? readLive(current.entity) : null;
    if (!live) return null;
    return {
      version: live.version,
      tier: live.tier,
      ...(live.location ? { location: live.location } : {}),
      ...(live.retired?.length ? { retired: live.retired } : {}),
    };
  }

  async countByTier(): Promise<Record<Tier, number>> {
    const counts = Object.fromEntries(TIERS.map((t) => [t, 0])) as Record<Tier, number>;
    // Table Storage has no COUNT: this reads one small property per live twin, a page of 1000 per request.
    const entities = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`Deleted eq false`, select: ['Tier'] },
    });
    for await (const page of entities.byPage({ maxPageSize: PAGE_SIZE })) {
      for (const entity of page) {
        const tier = entity['Tier'] as Tier;
        if (TIERS.includes(tier)) counts[tier]++;
      }
    }
    return counts;
  }

  async close(): Promise<void> {
    // The SDK holds no connection of its own beyond the shared keep-alive agent.
  }

  private async runTransactions(transactions: Candidate[][], now: Date, t: TierThresholds): Promise<number> {
    let changed = 0;
    let next = 0;
    const worker = async () => {
      while (next < transactions.length) {
        const group = transactions[next++];
        const actions: TransactionAction[] = group.map((c) => [
          'update',
          { partitionKey: c.partitionKey, rowKey: c.rowKey, Tier: c.to },
          'Merge',
          { etag: c.etag },
        ]);
        try {
          await this.table.submitTransaction(actions);
          changed += group.length;
        } catch (e) {
          // One stale ETag (a write or access since the scan) or a vanished entity fails the whole group.
          if (statusOf(e) !== 412 && statusOf(e) !== 404) throw e;
          for (const c of group) if (await this.retierOne(c.rowKey, now, t)) changed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.sweepConcurrency, transactions.length) }, worker));
    return changed;
  }

  /** Re-tiers one twin on fresh data; true if its tier changed. */
  private async retierOne(leadId: string, now: Date, t: TierThresholds): Promise<boolean> {
    let moved = false;
    await this.guarded(leadId, (current) => {
      moved = false;
      const live = current ? readLive(current) : null;
      if (!live || live.location) return null;
      const tier = deriveTier(new Date(lastActivityMs(live)), now, t);
      if (tier === live.tier) return null;
      moved = true;
      return liveEntity(leadId, { ...live, tier });
    });
    return moved;
  }

  /** One partition's group of twins (at most 100); returns each twin's result. */
  private async writeGroup(group: PendingWrite[]): Promise<Map<string, ApplyResult>> {
    const results = new Map<string, ApplyResult>();
    const creates = group.map((w) => decideWrite(w, null)!);
    try {
      await this.table.submitTransaction(
        creates.map((entity): TransactionAction => ['create', asTable(entity)]),
      );
      for (const w of group) results.set(w.leadId, 'applied');
      return results;
    } catch (e) {
      if (statusOf(e) !== 409) throw e;
    }
    const current = await this.readGroup(group);
    const actions: TransactionAction[] = [];
    const writing: PendingWrite[] = [];
    for (const w of group) {
      const found = current.get(w.leadId);
      const entity = decideWrite(w, found?.entity ?? null);
      if (entity === null) {
        results.set(w.leadId, 'stale');
        continue;
      }
      actions.push(
        found ? ['update', asTable(entity), 'Replace', { etag: found.etag }] : ['create', asTable(entity)],
      );
      writing.push(w);
    }
    if (actions.length === 0) return results;
    try {
      await this.table.submitTransaction(actions);
      for (const w of writing) results.set(w.leadId, 'applied');
    } catch (e) {
      const status = statusOf(e);
      if (status !== 412 && status !== 409 && status !== 404) throw e;
      for (const w of writing) {
        results.set(w.leadId, await this.guarded(w.leadId, (fresh) => decideWrite(w, fresh)));
      }
    }
    return results;
  }

  /** The stored entities of one partition's twins, by leadId, with as few queries as the filter limit allows. */
  private async readGroup(
    group: PendingWrite[],
  ): Promise<Map<string, { entity: Record<string, unknown>; etag: string }>> {
    const found = new Map<string, { entity: Record<string, unknown>; etag: string }>();
    const partitionKey = activityPartitionKey(group[0].leadId);
    for (let i = 0; i < group.length; i += KEYS_PER_QUERY) {
      const keys = group.slice(i, i + KEYS_PER_QUERY).map((w) => odata`RowKey eq ${w.leadId}`);
      const filter = `${odata`PartitionKey eq ${partitionKey}`} and (${keys.join(' or ')})`;
      for await (const entity of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter },
      })) {
        found.set(entity.rowKey!, { entity, etag: entity.etag });
      }
    }
    return found;
  }

  private async read(leadId: string): Promise<{ entity: Record<string, unknown>; etag: string } | null> {
    parseLeadId(leadId);
    try {
      const entity = await this.table.getEntity<Record<string, unknown>>(
        activityPartitionKey(leadId),
        leadId,
      );
      return { entity, etag: entity.etag };
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  /**
   * Read-decide-write with optimistic concurrency. `decide` returns the entity to store, or null when there is
   * nothing to change (stale); it runs again on fresh data whenever another writer got in between.
   */
  private async guarded(
    leadId: string,
    decide: (current: Record<string, unknown> | null) => ActivityEntity | null,
  ): Promise<ApplyResult> {
    for (let attempt = 0; attempt < this.maxConflictRetries; attempt++) {
      const current = await this.read(leadId);
      const next = decide(current?.entity ?? null);
      if (next === null) return 'stale';
      try {
        if (current) await this.table.updateEntity(next, 'Replace', { etag: current.etag });
        else await this.table.createEntity(next);
        return 'applied';
      } catch (e) {
        const status = statusOf(e);
        // 412: changed since our read; 409: created since our read; 404: deleted since our read.
        if (status !== 412 && status !== 409 && status !== 404) throw e;
        await sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
    throw new Error(`gave up after ${this.maxConflictRetries} conflicting writes to one activity entity`);
  }
}

/** The store on the account named by the options. Call ensureTable() once at deployment or startup. */
export function createTableActivityStore(options: TableActivityStoreOptions): TableActivityStore {
  return new TableActivityStore(
    createTableClient(options, options.table ?? DEFAULT_TABLE, 'createTableActivityStore'),
    { maxConflictRetries: options.maxConflictRetries, sweepConcurrency: options.sweepConcurrency },
  );
}

interface PendingWrite {
  leadId: string;
  version: Version;
  atMs: number;
}

/** The entity a write leaves, or null when the stored one already has this version, a newer one or its deletion. */
function decideWrite(w: PendingWrite, current: Record<string, unknown> | null): ActivityEntity | null {
  const deletedVersion = current ? deletedVersionOf(current) : undefined;
  if (deletedVersion !== undefined && deletedVersion >= w.version) return null;
  const live = current ? readLive(current) : null;
  if (live && live.version >= w.version) return null;
  return liveEntity(w.leadId, {
    version: w.version,
    lastWriteMs: live ? Math.max(live.lastWriteMs, w.atMs) : w.atMs,
    lastAccessMs: live ? live.lastAccessMs : null,
    tier: 'hot',
    deletedVersion,
    retired: live ? retireBundle(live) : undefined,
  });
}

function asTable(entity: ActivityEntity): TableEntity<Record<string, unknown>> {
  return entity as unknown as TableEntity<Record<string, unknown>>;
}

function idleBound(cutoff: number): number {
  return Math.ceil(clamp(cutoff + RANGE_SLACK_MS));
}

function activeBound(cutoff: number): number {
  return Math.floor(clamp(cutoff - RANGE_SLACK_MS));
}

function clamp(ms: number): number {
  return Math.min(MAX_MS, Math.max(MIN_MS, ms));
}

function epochMs(date: Date): number {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new Error('activity time must be a valid Date');
  return ms;
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}
