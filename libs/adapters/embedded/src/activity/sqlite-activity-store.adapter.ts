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
import { Tier, TierThresholds, TIERS, Version } from '@twinstore/domain';
import { immediate, immediateAsync, openSqlite, SqliteDatabase } from '../sqlite';

export interface SqliteActivityStoreOptions {
  file: string;
  /** Rows re-tiered per transaction during sweep() (default 5000), so writers are never blocked for long. */
  sweepBatchSize?: number;
}

interface ActivityRow {
  lead_id: string;
  version: string;
  last_write_at: number;
  last_access_at: number | null;
  tier: Tier;
}

const DAY_MS = 86_400_000;
// Candidate ranges are widened by this much so that floating-point rounding at a threshold can never hide a
// row; the exact tier expression then decides.
const RANGE_SLACK_MS = 1000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS activity_twins (
    lead_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    last_write_at INTEGER NOT NULL,
    last_access_at INTEGER,
    tier TEXT NOT NULL CHECK (tier IN ('hot', 'warm', 'cold')),
    last_activity_at INTEGER GENERATED ALWAYS AS (MAX(last_write_at, COALESCE(last_access_at, last_write_at))) VIRTUAL
  );
  CREATE INDEX IF NOT EXISTS activity_twins_tier_activity ON activity_twins (tier, last_activity_at);
  CREATE TABLE IF NOT EXISTS activity_tombstones (
    lead_id TEXT PRIMARY KEY,
    version TEXT NOT NULL
  );
`;

/**
 * The tier `deriveTier` gives at @now, as SQL. Same arithmetic as the domain function (integer milliseconds
 * divided by the day length in double precision, compared with >=), so both agree at every boundary.
 */
const TIER_AT_NOW = `CASE
    WHEN (@now - last_activity_at) / 86400000.0 >= @coldAfterDays THEN 'cold'
    WHEN (@now - last_activity_at) / 86400000.0 >= @warmAfterDays THEN 'warm'
    ELSE 'hot'
  END`;

/**
 * Tiering bookkeeping on SQLite: last write, last access and tier per twin, version- and tombstone-guarded
 * like the catalog. A projection (rebuildable from the blobs), hence synchronous=NORMAL. Times are stored as
 * epoch milliseconds so the sweep can compute in SQL; the index on (tier, last activity) lets a sweep visit
 * only the twins that change tier instead of every row.
 */
export class SqliteActivityStore implements ActivityStore, TierLedger {
  private readonly db: SqliteDatabase;
  private readonly stmt: Statements;
  private readonly sweepBatchSize: number;

  constructor(options: SqliteActivityStoreOptions) {
    this.sweepBatchSize = options.sweepBatchSize ?? 5000;
    if (!Number.isInteger(this.sweepBatchSize) || this.sweepBatchSize < 1) {
      throw new Error('sweepBatchSize must be a positive integer');
    }
    this.db = openSqlite(options.file, { synchronous: 'normal' });
    immediate(this.db, () => {
      this.db.exec(SCHEMA);
      addPlacementColumns(this.db);
    });
    this.stmt = prepareStatements(this.db);
  }

  /** A write makes the twin hot at once: its new version is in the catalog and the hot blob tier. */
  async recordWrite(leadId: string, version: Version, at: Date): Promise<ApplyResult> {
    const { changes } = this.stmt.recordWrite.run({ leadId, version, at: epochMs(at) });
    return changes > 0 ? 'applied' : 'stale';
  }

  /** One write transaction for the whole batch: one commit instead of one per twin. */
  async recordWrites(writes: readonly ActivityWrite[]): Promise<ApplyResult[]> {
    if (writes.length === 0) return [];
    const rows = writes.map((w) => ({ leadId: w.leadId, version: w.version, at: epochMs(w.at) }));
    return immediateAsync(this.db, () =>
      rows.map((row) => (this.stmt.recordWrite.run(row).changes > 0 ? 'applied' : 'stale')),
    );
  }

  async recordAccess(leadId: string, at: Date): Promise<void> {
    this.stmt.recordAccess.run({ leadId, at: epochMs(at) });
  }

  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    return immediate(this.db, () => {
      const tomb = this.stmt.tombstone.get(leadId);
      if (tomb && tomb.version >= version) return 'stale';
      // A row newer than the deletion belongs to a write accepted after it, so it stays.
      this.stmt.deleteOlder.run(leadId, version);
      this.stmt.setTombstone.run(leadId, version);
      return 'applied';
    });
  }

  async get(leadId: string): Promise<TwinActivity | null> {
    const row = this.stmt.get.get(leadId);
    if (!row) return null;
    return {
      leadId: row.lead_id,
      version: row.version as Version,
      lastWriteAt: new Date(row.last_write_at).toISOString(),
      lastAccessAt: row.last_access_at === null ? null : new Date(row.last_access_at).toISOString(),
      tier: row.tier,
    };
  }

  /**
   * Re-derives the tier of every twin at `now`. Only rows whose last activity lies on the wrong side of a
   * threshold for their current tier are candidates (index ranges), re-tiered in batches of short
   * transactions. Returns how many twins changed tier.
   */
  async sweep(now: Date, thresholds: TierThresholds): Promise<number> {
    const nowMs = epochMs(now);
    const { warmAfterDays, coldAfterDays } = thresholds;
    if (![warmAfterDays, coldAfterDays].every((d) => typeof d === 'number' && !Number.isNaN(d))) {
      throw new Error('tier thresholds must be numbers of days');
    }
    const warmCutoff = nowMs - warmAfterDays * DAY_MS;
    const coldCutoff = nowMs - coldAfterDays * DAY_MS;
    const params = { now: nowMs, warmAfterDays, coldAfterDays, limit: this.sweepBatchSize };
    const passes = [
      // hot twins idle past the first threshold
      {
        statement: this.stmt.retierIdle,
        from: 'hot',
        bound: Math.max(warmCutoff, coldCutoff) + RANGE_SLACK_MS,
      },
      // warm twins idle past the cold threshold
      { statement: this.stmt.retierIdle, from: 'warm', bound: coldCutoff + RANGE_SLACK_MS },
      // warm twins active again (or thresholds raised)
      { statement: this.stmt.retierActive, from: 'warm', bound: warmCutoff - RANGE_SLACK_MS },
      // cold twins active again (or thresholds raised)
      { statement: this.stmt.retierActive, from: 'cold', bound: coldCutoff - RANGE_SLACK_MS },
    ];
    let changed = 0;
    for (const { statement, from, bound } of passes) {
      for (;;) {
        const { changes } = immediate(this.db, () => statement.run({ ...params, from, bound }));
        changed += changes;
        if (changes < this.sweepBatchSize) break;
      }
    }
    return changed;
  }

  /** Hot and warm twins whose tier at `now` differs from their placement (cold ones move back on read or write). */
  async tierCandidates(now: Date, thresholds: TierThresholds, limit: number): Promise<TierCandidate[]> {
    const nowMs = epochMs(now);
    const { warmAfterDays, coldAfterDays } = thresholds;
    const warmCutoff = nowMs - warmAfterDays * DAY_MS;
    const coldCutoff = nowMs - coldAfterDays * DAY_MS;
    const params = { now: nowMs, warmAfterDays, coldAfterDays };
    const out: TierCandidate[] = [];
    const passes = [
      {
        statement: this.stmt.idleCandidates,
        from: 'hot',
        bound: Math.max(warmCutoff, coldCutoff) + RANGE_SLACK_MS,
      },
      { statement: this.stmt.idleCandidates, from: 'warm', bound: coldCutoff + RANGE_SLACK_MS },
      { statement: this.stmt.activeCandidates, from: 'warm', bound: warmCutoff - RANGE_SLACK_MS },
    ];
    for (const { statement, from, bound } of passes) {
      if (out.length >= limit) break;
      for (const row of statement.all({ ...params, from, bound, limit: limit - out.length })) {
        out.push({ leadId: row.lead_id, version: row.version as Version, from: row.tier, to: row.target });
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
    const add = [...new Set(retire ?? [])].filter((b) => b.length > 0 && b !== location?.bundle);
    return immediate(this.db, () => {
      const { changes } = this.stmt.setPlacement.run({
        leadId,
        version,
        tier,
        bundle: location?.bundle ?? null,
        offset: location?.offset ?? null,
        length: location?.length ?? null,
      });
      if (changes > 0 && add.length > 0) this.stmt.addRetired.run({ leadId, version, retire: add.join(',') });
      return changes > 0 ? 'applied' : 'stale';
    });
  }

  async bundleMembers(
    bundle: string,
  ): Promise<{ leadId: string; version: Version; location: BundleLocation }[]> {
    return this.stmt.bundleMembers.all(bundle).map((r) => ({
      leadId: r.lead_id,
      version: r.version as Version,
      location: { bundle, offset: r.bundle_offset, length: r.bundle_length },
    }));
  }

  async bundleLiveCounts(): Promise<Map<string, number>> {
    return new Map(this.stmt.bundleLiveCounts.all().map((r) => [r.bundle, r.n]));
  }

  async locate(leadId: string): Promise<TierPlacement | null> {
    const row = this.stmt.locate.get(leadId);
    if (!row) return null;
    const retired = [...new Set((row.retired_bundles ?? '').split(',').filter((b) => b.length > 0))];
    return {
      version: row.version as Version,
      tier: row.tier,
      ...(row.bundle !== null && row.bundle_offset !== null && row.bundle_length !== null
        ? { location: { bundle: row.bundle, offset: row.bundle_offset, length: row.bundle_length } }
        : {}),
      ...(retired.length > 0 ? { retired } : {}),
    };
  }

  async countByTier(): Promise<Record<Tier, number>> {
    const counts = Object.fromEntries(TIERS.map((t) => [t, 0])) as Record<Tier, number>;
    for (const { tier, n } of this.stmt.countByTier.all()) counts[tier] = n;
    return counts;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

export function openSqliteActivityStore(options: SqliteActivityStoreOptions): SqliteActivityStore {
  return new SqliteActivityStore(options);
}

function epochMs(date: Date): number {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new Error('activity time must be a valid Date');
  return ms;
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: SqliteDatabase) {
  // Moves up to @limit rows of tier @from whose last activity is within the candidate range to their tier
  // at @now. Rows already in the right tier are skipped, so repeated runs make progress and then stop.
  // Bundled (cold) twins keep their label: only the tier lifecycle (rehydration, a write) moves them.
  const retier = (range: string) =>
    db.prepare(
      `UPDATE activity_twins SET tier = ${TIER_AT_NOW}
       WHERE rowid IN (
         SELECT rowid FROM activity_twins
         WHERE tier = @from AND ${range} AND ${TIER_AT_NOW} <> @from AND bundle IS NULL
         LIMIT @limit)`,
    );
  const candidates = (range: string) =>
    db.prepare<[Record<string, unknown>], { lead_id: string; version: string; tier: Tier; target: Tier }>(
      `SELECT lead_id, version, tier, ${TIER_AT_NOW} AS target FROM activity_twins
       WHERE tier = @from AND ${range} AND ${TIER_AT_NOW} <> @from
       LIMIT @limit`,
    );
  return {
    recordWrite: db.prepare(
      `INSERT INTO activity_twins (lead_id, version, last_write_at, last_access_at, tier)
       SELECT @leadId, @version, @at, NULL, 'hot'
       WHERE NOT EXISTS (SELECT 1 FROM activity_tombstones WHERE lead_id = @leadId AND version >= @version)
       ON CONFLICT (lead_id) DO UPDATE SET
         version = excluded.version,
         last_write_at = MAX(activity_twins.last_write_at, excluded.last_write_at),
         tier = 'hot', bundle = NULL, bundle_offset = NULL, bundle_length = NULL,
         retired_bundles = CASE WHEN activity_twins.bundle IS NOT NULL AND activity_twins.bundle IS NOT NULL THEN COALESCE(activity_twins.retired_bundles || ',', '') || activity_twins.bundle ELSE activity_twins.retired_bundles END
       WHERE excluded.version > activity_twins.version`,
    ),
    recordAccess: db.prepare(
      `UPDATE activity_twins SET last_access_at = @at
       WHERE lead_id = @leadId AND (last_access_at IS NULL OR last_access_at < @at)`,
    ),
    get: db.prepare<[string], ActivityRow>(
      'SELECT lead_id, version, last_write_at, last_access_at, tier FROM activity_twins WHERE lead_id = ?',
    ),
    tombstone: db.prepare<[string], { version: string }>(
      'SELECT version FROM activity_tombstones WHERE lead_id = ?',
    ),
    deleteOlder: db.prepare<[string, string]>('DELETE FROM activity_twins WHERE lead_id = ? AND version < ?'),
    setTombstone: db.prepare<[string, string]>(
      `INSERT INTO activity_tombstones (lead_id, version) VALUES (?, ?)
       ON CONFLICT (lead_id) DO UPDATE SET version = excluded.version
       WHERE excluded.version > activity_tombstones.version`,
    ),
    retierIdle: retier('last_activity_at <= @bound'),
    retierActive: retier('last_activity_at > @bound'),
    idleCandidates: candidates('last_activity_at <= @bound'),
    activeCandidates: candidates('last_activity_at > @bound'),
    setPlacement: db.prepare(
      `UPDATE activity_twins SET tier = @tier, bundle = @bundle, bundle_offset = @offset, bundle_length = @length,
         retired_bundles = CASE WHEN bundle IS NOT NULL AND bundle IS NOT @bundle THEN COALESCE(retired_bundles || ',', '') || bundle ELSE retired_bundles END
       WHERE lead_id = @leadId AND version = @version`,
    ),
    addRetired: db.prepare(
      `UPDATE activity_twins SET retired_bundles = COALESCE(retired_bundles || ',', '') || @retire
       WHERE lead_id = @leadId AND version = @version`,
    ),
    bundleMembers: db.prepare<
      [string],
      { lead_id: string; version: string; bundle_offset: number; bundle_length: number }
    >(
      `SELECT lead_id, version, bundle_offset, bundle_length FROM activity_twins
       WHERE bundle = ? AND bundle_offset IS NOT NULL ORDER BY bundle_offset`,
    ),
    locate: db.prepare<
      [string],
      {
        version: string;
        tier: Tier;
        bundle: string | null;
        bundle_offset: number | null;
        bundle_length: number | null;
        retired_bundles: string | null;
      }
    >(
      `SELECT version, tier, bundle, bundle_offset, bundle_length, retired_bundles
       FROM activity_twins WHERE lead_id = ?`,
    ),
    bundleLiveCounts: db.prepare<[], { bundle: string; n: number }>(
      'SELECT bundle, COUNT(*) AS n FROM activity_twins WHERE bundle IS NOT NULL GROUP BY bundle',
    ),
    countByTier: db.prepare<[], { tier: Tier; n: number }>(
      'SELECT tier, COUNT(*) AS n FROM activity_twins GROUP BY tier',
    ),
  };
}

/** Placement of cold twins (the bundle offset index); added to databases created before the tier lifecycle. */
function addPlacementColumns(db: SqliteDatabase): void {
  const columns = new Set(
    (db.prepare('PRAGMA table_info(activity_twins)').all() as { name: string }[]).map((c) => c.name),
  );
  if (!columns.has('bundle')) db.exec('ALTER TABLE activity_twins ADD COLUMN bundle TEXT');
  if (!columns.has('bundle_offset')) db.exec('ALTER TABLE activity_twins ADD COLUMN bundle_offset INTEGER');
  if (!columns.has('bundle_length')) db.exec('ALTER TABLE activity_twins ADD COLUMN bundle_length INTEGER');
  // Bundles that held earlier placements of the twin (dead entries there): erasure must rewrite them too.
  if (!columns.has('retired_bundles')) db.exec('ALTER TABLE activity_twins ADD COLUMN retired_bundles TEXT');
  db.exec(
    'CREATE INDEX IF NOT EXISTS activity_twins_bundle ON activity_twins (bundle) WHERE bundle IS NOT NULL',
  );
}
