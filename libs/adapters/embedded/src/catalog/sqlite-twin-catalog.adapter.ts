import { ApplyResult, TwinCatalog, UpsertOutcome } from '@twinstore/application';
import { TwinMetadata, TwinRecord, Version } from '@twinstore/domain';
import { immediate, immediateAsync, openSqlite, SqliteDatabase } from '../sqlite';

export interface SqliteCatalogOptions {
  file: string;
}

interface TwinRow {
  lead_id: string;
  version: string;
  blob_path: string;
  content_hash: string;
  size: number;
  saved_at: string;
  metadata: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS catalog_twins (
    lead_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    blob_path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    saved_at TEXT NOT NULL,
    classification TEXT NOT NULL,
    age INTEGER,
    income REAL,
    location TEXT,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS catalog_twins_classification ON catalog_twins (classification, saved_at);
  CREATE INDEX IF NOT EXISTS catalog_twins_saved_at ON catalog_twins (saved_at);
  CREATE TABLE IF NOT EXISTS catalog_tombstones (
    lead_id TEXT PRIMARY KEY,
    version TEXT NOT NULL
  );
`;

const RECORD_COLUMNS = 'lead_id, version, blob_path, content_hash, size, saved_at, metadata';

/**
 * The embedded catalog: one row per twin with its current version, queryable metadata columns, and a
 * tombstone per deleted lead. A projection, rebuilt from the blobs if lost, hence synchronous=NORMAL.
 * Table names carry a `catalog_` prefix so the file may be shared with other embedded stores.
 *
 * Versions are ULIDs compared as strings; SQLite's default BINARY collation orders them the same way.
 */
export class SqliteTwinCatalog implements TwinCatalog {
  private readonly db: SqliteDatabase;
  private readonly stmt: Statements;

  constructor(options: SqliteCatalogOptions) {
    this.db = openSqlite(options.file, { synchronous: 'normal' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.stmt = prepareStatements(this.db);
  }

  async upsert(record: TwinRecord): Promise<ApplyResult> {
    return (await this.upsertMany([record]))[0].result;
  }

  /** One write transaction for the whole batch: one commit (and one WAL sync point) instead of one per record. */
  async upsertMany(records: readonly TwinRecord[]): Promise<UpsertOutcome[]> {
    if (records.length === 0) return [];
    return immediateAsync(this.db, () => {
      const hadRecord = new Map<string, boolean>();
      for (const { leadId } of records) {
        if (!hadRecord.has(leadId)) hadRecord.set(leadId, this.stmt.exists.get(leadId) !== undefined);
      }
      return records.map((record) => {
        const result = this.upsertOne(record);
        const tombstone = (this.stmt.tombstone.get(record.leadId)?.version as Version | undefined) ?? null;
        return { result, hadRecord: hadRecord.get(record.leadId)!, tombstone };
      });
    });
  }

  async get(leadId: string): Promise<TwinRecord | null> {
    const row = this.stmt.get.get(leadId);
    return row ? toRecord(row) : null;
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

  async tombstone(leadId: string): Promise<Version | null> {
    return (await this.tombstones([leadId])).get(leadId) ?? null;
  }

  async tombstones(leadIds: readonly string[]): Promise<Map<string, Version>> {
    const found = new Map<string, Version>();
    // One read transaction: a consistent snapshot, and no lock taken per lead.
    this.db.transaction(() => {
      for (const leadId of leadIds) {
        const tomb = this.stmt.tombstone.get(leadId);
        if (tomb) found.set(leadId, tomb.version as Version);
      }
    })();
    return found;
  }

  async count(): Promise<number> {
    return this.stmt.count.get()!.n;
  }

  async list(options: { after?: string; limit: number }): Promise<TwinRecord[]> {
    if (!Number.isInteger(options.limit) || options.limit < 0) {
      throw new Error('limit must be a non-negative integer');
    }
    return this.stmt.list.all(options.after ?? '', options.limit).map(toRecord);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private upsertOne(record: TwinRecord): ApplyResult {
    const { metadata } = record;
    // One statement: the tombstone guard is the INSERT's WHERE, the version guard the UPSERT's WHERE, so no
    // interleaving with a concurrent remove() in another process can resurrect a deleted lead.
    const { changes } = this.stmt.upsert.run({
      leadId: record.leadId,
      version: record.version,
      blobPath: record.blobPath,
      contentHash: record.contentHash,
      size: record.size,
      savedAt: record.savedAt,
      classification: metadata.classification,
      age: metadata.age ?? null,
      income: metadata.income ?? null,
      location: metadata.location ?? null,
      tags: JSON.stringify(metadata.tags),
      metadata: JSON.stringify(metadata),
    });
    return changes > 0 ? 'applied' : 'stale';
  }
}

export function openSqliteCatalog(options: SqliteCatalogOptions): SqliteTwinCatalog {
  return new SqliteTwinCatalog(options);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: SqliteDatabase) {
  return {
    upsert: db.prepare(
      `INSERT INTO catalog_twins
         (lead_id, version, blob_path, content_hash, size, saved_at, classification, age, income, location,
          tags, metadata)
       SELECT @leadId, @version, @blobPath, @contentHash, @size, @savedAt, @classification, @age, @income,
              @location, @tags, @metadata
       WHERE NOT EXISTS (SELECT 1 FROM catalog_tombstones WHERE lead_id = @leadId AND version >= @version)
       ON CONFLICT (lead_id) DO UPDATE SET
         version = excluded.version, blob_path = excluded.blob_path, content_hash = excluded.content_hash,
         size = excluded.size, saved_at = excluded.saved_at, classification = excluded.classification,
         age = excluded.age, income = excluded.income, location = excluded.location, tags = excluded.tags,
         metadata = excluded.metadata
       WHERE excluded.version > catalog_twins.version`,
    ),
    get: db.prepare<[string], TwinRow>(`SELECT ${RECORD_COLUMNS} FROM catalog_twins WHERE lead_id = ?`),
    exists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM catalog_twins WHERE lead_id = ?'),
    tombstone: db.prepare<[string], { version: string }>(
      'SELECT version FROM catalog_tombstones WHERE lead_id = ?',
    ),
    deleteOlder: db.prepare<[string, string]>('DELETE FROM catalog_twins WHERE lead_id = ? AND version < ?'),
    setTombstone: db.prepare<[string, string]>(
      `INSERT INTO catalog_tombstones (lead_id, version) VALUES (?, ?)
       ON CONFLICT (lead_id) DO UPDATE SET version = excluded.version
       WHERE excluded.version > catalog_tombstones.version`,
    ),
    count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM catalog_twins'),
    list: db.prepare<[string, number], TwinRow>(
      `SELECT ${RECORD_COLUMNS} FROM catalog_twins WHERE lead_id > ? ORDER BY lead_id LIMIT ?`,
    ),
  };
}

function toRecord(row: TwinRow): TwinRecord {
  return {
    leadId: row.lead_id,
    version: row.version as Version,
    blobPath: row.blob_path,
    contentHash: row.content_hash,
    size: row.size,
    savedAt: row.saved_at,
    metadata: JSON.parse(row.metadata) as TwinMetadata,
  };
}
