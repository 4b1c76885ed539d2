import { RECENT_WRITES_HORIZON_MS, RecentWrites, RecentWritesOptions } from '@twinstore/application';
import { parseVersion, TwinRecord, Version } from '@twinstore/domain';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';
import { WalSync } from '../wal-sync';

export interface SqliteRecentWritesOptions extends RecentWritesOptions {
  /** `recent-writes.db` under the data directory; shared by every process on the machine. */
  file: string;
}

interface Row {
  version: string;
  record: string | null;
  noted_at: number;
}

/** `record` NULL: the lead's deletion at `version`. */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS recent_writes (
    lead_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    record TEXT,
    noted_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS recent_writes_noted_at ON recent_writes (noted_at);
`;
/** Expired rows deleted per statement, so pruning never holds the write lock for long. */
const PRUNE_BATCH = 2000;
/** Pruning runs (as part of a note) at most this often, and at least ten times per horizon. */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * RecentWrites in its own SQLite file. A note is one BEGIN IMMEDIATE transaction for the whole batch (an
 * upsert per lead that only moves to a newer version) committed without an fsync, then a WAL fsync off the
 * event loop (WalSync) that concurrent notes share: a save answers 202 only once its note is as durable as its
 * blob, at the cost of one group commit per batch. `latest` is a point read on the primary key. Rows older than the
 * horizon are ignored on read and pruned in bounded steps, so the file holds at most what was written during
 * one horizon.
 */
export class SqliteRecentWrites implements RecentWrites {
  private readonly db: SqliteDatabase;
  private readonly wal: WalSync;
  private readonly horizonMs: number;
  private readonly pruneIntervalMs: number;
  private readonly now: () => number;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private lastPrune: number;

  constructor(options: SqliteRecentWritesOptions) {
    this.horizonMs = options.horizonMs ?? RECENT_WRITES_HORIZON_MS;
    if (!(this.horizonMs > 0)) throw new RangeError('horizonMs must be positive');
    this.pruneIntervalMs = Math.min(PRUNE_INTERVAL_MS, this.horizonMs / 10);
    this.now = options.now ?? Date.now;
    this.db = openSqlite(options.file, { synchronous: 'full' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.stmt = prepareStatements(this.db);
    this.wal = new WalSync(this.db, options.file);
    this.lastPrune = this.now();
  }

  async note(records: readonly TwinRecord[]): Promise<void> {
    if (records.length === 0) return;
    const now = this.now();
    this.wal.commitWithoutFsync(() => {
      for (const r of records) {
        this.stmt.upsert.run({
          leadId: r.leadId,
          version: parseVersion(r.version),
          record: JSON.stringify(r),
          now,
        });
      }
      if (now - this.lastPrune >= this.pruneIntervalMs) {
        // A full batch means more may be left: the next note prunes again.
        if (this.stmt.prune.run({ before: now - this.horizonMs, limit: PRUNE_BATCH }).changes < PRUNE_BATCH) {
          this.lastPrune = now;
        }
      }
    });
    await this.wal.sync();
  }

  async latest(leadId: string): Promise<TwinRecord | null> {
    const row = this.stmt.get.get({ leadId }) as Row | undefined;
    if (!row || row.record === null || this.now() - row.noted_at >= this.horizonMs) return null;
    return JSON.parse(row.record) as TwinRecord;
  }

  async forget(leadId: string, version: Version): Promise<void> {
    const now = this.now();
    this.wal.commitWithoutFsync(() =>
      this.stmt.upsert.run({ leadId, version: parseVersion(version), record: null, now }),
    );
    await this.wal.sync();
  }

  /** Deletes every row older than the horizon now (pruning otherwise runs in steps as notes come). */
  async pruneExpired(): Promise<number> {
    const before = this.now() - this.horizonMs;
    let total = 0;
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; total += n) {
      n = this.stmt.prune.run({ before, limit: PRUNE_BATCH }).changes;
    }
    return total;
  }

  /** Rows held, expired ones included (for tests and diagnostics). */
  size(): number {
    return (this.stmt.count.get() as { n: number }).n;
  }

  async close(): Promise<void> {
    await this.wal.idle();
    if (this.db.open) this.db.close();
  }
}

function prepareStatements(db: SqliteDatabase) {
  return {
    upsert: db.prepare(
      `INSERT INTO recent_writes (lead_id, version, record, noted_at) VALUES (@leadId, @version, @record, @now)
       ON CONFLICT (lead_id) DO UPDATE SET version = excluded.version, record = excluded.record,
         noted_at = excluded.noted_at
       WHERE excluded.version > recent_writes.version`,
    ),
    get: db.prepare(`SELECT version, record, noted_at FROM recent_writes WHERE lead_id = @leadId`),
    prune: db.prepare(
      `DELETE FROM recent_writes WHERE lead_id IN (
         SELECT lead_id FROM recent_writes WHERE noted_at <= @before LIMIT @limit)`,
    ),
    count: db.prepare(`SELECT count(*) AS n FROM recent_writes`),
  };
}

export function openSqliteRecentWrites(options: SqliteRecentWritesOptions): SqliteRecentWrites {
  return new SqliteRecentWrites(options);
}
