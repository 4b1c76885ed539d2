import { ActivityStore, ApplyResult, TwinActivity } from '@twinstore/application';
import { Tier, TierThresholds, TIERS, Version } from '@twinstore/domain';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';

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
export class SqliteActivityStore implements ActivityStore {
  private readonly db: SqliteDatabase;
  private readonly stmt: Statements;
  private readonly sweepBatchSize: number;

  constructor(options: SqliteActivityStoreOptions) {
    this.sweepBatchSize = options.sweepBatchSize ?? 5000;
    if (!Number.isInteger(this.sweepBatchSize) || this.sweepBatchSize < 1) {
      throw new Error('sweepBatchSize must be a positive integer');
    }
    this.db = openSqlite(options.file, { synchronous: 'normal' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.stmt = prepareStatements(this.db);
  }

  /** A write makes the twin hot at once: its new version is in the catalog and the hot blob tier. */
  async recordWrite(leadId: string, version: Version, at: Date): Promise<ApplyResult> {
    const { changes } = this.stmt.recordWrite.run({ leadId, version, at: epochMs(at) });
    return changes > 0 ? 'applied' : 'stale';
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
  const retier = (range: string) =>
    db.prepare(
      `UPDATE activity_twins SET tier = ${TIER_AT_NOW}
       WHERE rowid IN (
         SELECT rowid FROM activity_twins
         WHERE tier = @from AND ${range} AND ${TIER_AT_NOW} <> @from
         LIMIT @limit)`,
    );
  return {
    recordWrite: db.prepare(
      `INSERT INTO activity_twins (lead_id, version, last_write_at, last_access_at, tier)
       SELECT @leadId, @version, @at, NULL, 'hot'
       WHERE NOT EXISTS (SELECT 1 FROM activity_tombstones WHERE lead_id = @leadId AND version >= @version)
       ON CONFLICT (lead_id) DO UPDATE SET
         version = excluded.version,
         last_write_at = MAX(activity_twins.last_write_at, excluded.last_write_at),
         tier = 'hot'
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
    countByTier: db.prepare<[], { tier: Tier; n: number }>(
      'SELECT tier, COUNT(*) AS n FROM activity_twins GROUP BY tier',
    ),
  };
}
