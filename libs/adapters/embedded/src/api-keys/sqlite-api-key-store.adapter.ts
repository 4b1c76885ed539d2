import { ApiKeyExistsError, ApiKeyRecord, ApiKeyStore, ApiScope } from '@twinstore/application';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';

export interface SqliteApiKeyStoreOptions {
  file: string;
}

interface KeyRow {
  key_id: string;
  name: string;
  scopes: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
  ) WITHOUT ROWID;
`;

/**
 * API keys in their own SQLite file (`api-keys.db` under the data directory), shared by every process on the
 * machine (the ingest API verifies, `twins keys` manages). Only hashes are stored. synchronous=FULL: a
 * revocation must survive power loss.
 */
export class SqliteApiKeyStore implements ApiKeyStore {
  private readonly db: SqliteDatabase;
  private readonly stmt: ReturnType<typeof prepareStatements>;

  constructor(options: SqliteApiKeyStoreOptions) {
    this.db = openSqlite(options.file, { synchronous: 'full' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.stmt = prepareStatements(this.db);
  }

  async create(record: ApiKeyRecord): Promise<void> {
    if (this.stmt.insert.run(toRow(record)).changes === 0) throw new ApiKeyExistsError(record.keyId);
  }

  async createIfEmpty(record: ApiKeyRecord): Promise<boolean> {
    // under the write lock: two processes starting at once create one first key, not two
    return immediate(this.db, () => {
      if (this.stmt.any.get()) return false;
      return this.stmt.insert.run(toRow(record)).changes > 0;
    });
  }

  async get(keyId: string): Promise<ApiKeyRecord | null> {
    const row = this.stmt.get.get({ keyId }) as KeyRow | undefined;
    return row ? fromRow(row) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (this.stmt.list.all() as KeyRow[]).map(fromRow);
  }

  async revoke(keyId: string, at: Date): Promise<boolean> {
    return this.stmt.revoke.run({ keyId, at: at.getTime() }).changes > 0;
  }

  async touch(keyId: string, at: Date): Promise<void> {
    this.stmt.touch.run({ keyId, at: at.getTime() });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toRow(record: ApiKeyRecord): Record<string, unknown> {
  return {
    keyId: record.keyId,
    name: record.name,
    scopes: record.scopes.join(' '),
    secretHash: record.secretHash,
    createdAt: record.createdAt.getTime(),
    revokedAt: record.revokedAt?.getTime() ?? null,
    lastUsedAt: record.lastUsedAt?.getTime() ?? null,
  };
}

function fromRow(row: KeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    name: row.name,
    scopes: row.scopes.split(' ').filter(Boolean) as ApiScope[],
    secretHash: row.secret_hash,
    createdAt: new Date(row.created_at),
    ...(row.revoked_at !== null ? { revokedAt: new Date(row.revoked_at) } : {}),
    ...(row.last_used_at !== null ? { lastUsedAt: new Date(row.last_used_at) } : {}),
  };
}

function prepareStatements(db: SqliteDatabase) {
  return {
    insert: db.prepare(
      `INSERT INTO api_keys (key_id, name, scopes, secret_hash, created_at, revoked_at, last_used_at)
       VALUES (@keyId, @name, @scopes, @secretHash, @createdAt, @revokedAt, @lastUsedAt)
       ON CONFLICT (key_id) DO NOTHING`,
    ),
    any: db.prepare(`SELECT 1 FROM api_keys LIMIT 1`),
    get: db.prepare(
      `SELECT key_id, name, scopes, secret_hash, created_at, revoked_at, last_used_at
         FROM api_keys WHERE key_id = @keyId`,
    ),
    list: db.prepare(
      `SELECT key_id, name, scopes, secret_hash, created_at, revoked_at, last_used_at
         FROM api_keys ORDER BY created_at, key_id`,
    ),
    // the first revocation time is kept; revoking again still reports the key as found
    revoke: db.prepare(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @at) WHERE key_id = @keyId`),
    touch: db.prepare(
      `UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), @at) WHERE key_id = @keyId`,
    ),
  };
}

export function openSqliteApiKeyStore(options: SqliteApiKeyStoreOptions): SqliteApiKeyStore {
  return new SqliteApiKeyStore(options);
}
