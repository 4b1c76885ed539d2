import { randomUUID } from 'node:crypto';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyStoreOptions,
  StoredResponse,
} from '@twinstore/application';
import { isOwnerGone, ownerTag } from '../process-liveness';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';
import { WalSync } from '../wal-sync';

export interface SqliteIdempotencyStoreOptions extends IdempotencyStoreOptions {
  file: string;
}

interface KeyRow {
  request_hash: string;
  state: 'in-flight' | 'done';
  claim: string | null;
  response: string | null;
  locked_until: number;
  expires_at: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in-flight', 'done')),
    claim TEXT,
    response TEXT,
    locked_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
`;

/** Expired rows deleted per purge statement, so a purge never holds the write lock for long. */
const PURGE_BATCH = 1000;
/** A store purges expired rows on its own at most this often (as a side effect of `begin`). */
const PURGE_INTERVAL_MS = 60_000;

/**
 * Idempotency keys in their own SQLite file (`idempotency.db` under the data directory), shared by every
 * process on the machine. `begin` is one BEGIN IMMEDIATE transaction (read, decide, write under the write lock),
 * so processes racing on one key resolve to exactly one `new`. Answers decide whether a retry acts again, so
 * `complete` resolves only after the WAL is fsynced (WalSync: off the event loop, shared by concurrent
 * commits): a remembered answer survives power loss like the blob it describes. A claim needs no fsync of its
 * own (a power loss ends every request it could guard; the answer's fsync covers it anyway). A claim is a
 * short lease its holder renews while the request runs (`renew`: one conditional UPDATE). It also carries its
 * process (see process-liveness): a claim whose process no longer exists is taken over at once rather than
 * after the lease, so a client retrying through a restarted ingest API is not refused even for that long.
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly db: SqliteDatabase;
  private readonly ttlMs: number;
  readonly leaseMs: number;
  private readonly now: () => number;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private lastPurge = -Infinity;
  private readonly wal: WalSync;

  constructor(options: SqliteIdempotencyStoreOptions) {
    this.ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
    this.leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
    this.now = options.now ?? Date.now;
    if (!(this.ttlMs > 0) || !(this.leaseMs > 0)) throw new Error('ttlMs and leaseMs must be positive');
    this.db = openSqlite(options.file, { synchronous: 'full' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.stmt = prepareStatements(this.db);
    this.wal = new WalSync(this.db, options.file);
  }

  async begin(key: string, scope: string, requestHash: string): Promise<IdempotencyBegin> {
    const now = this.now();
    if (now - this.lastPurge >= PURGE_INTERVAL_MS) {
      this.lastPurge = now;
      this.purgeBatch(now);
    }
    return this.wal.commitWithoutFsync((): IdempotencyBegin => {
      const row = this.stmt.get.get({ scope, key }) as KeyRow | undefined;
      // The claim names its process, so that a retry after a crash need not wait out the lease (below).
      const claim = `${ownerTag()}-${randomUUID()}`;
      const lease = { scope, key, requestHash, claim, lockedUntil: now + this.leaseMs };
      if (!row || row.expires_at <= now) {
        this.stmt.claim.run({ ...lease, expiresAt: now + this.ttlMs });
        return { state: 'new', claim };
      }
      if (row.request_hash !== requestHash) return { state: 'mismatch' };
      if (row.state === 'done')
        return { state: 'done', response: JSON.parse(row.response!) as StoredResponse };
      // The holder still runs the request (it renews its lease), unless its process is gone (SIGKILL, OOM,
      // crash): then the retry would otherwise be refused for the rest of the lease although nothing can
      // finish it.
      if (row.locked_until > now && !(row.claim !== null && isOwnerGone(row.claim))) {
        return { state: 'in-flight' };
      }
      // The holder's lease lapsed (it hung) or its process is gone: the key is ours now.
      this.stmt.takeOver.run(lease);
      return { state: 'new', claim };
    });
  }

  async complete(key: string, scope: string, claim: string, response: StoredResponse): Promise<boolean> {
    const { changes } = this.wal.commitWithoutFsync(() =>
      this.stmt.complete.run({ scope, key, claim, response: JSON.stringify(response) }),
    );
    await this.wal.sync();
    return changes > 0;
  }

  async renew(key: string, scope: string, claim: string): Promise<boolean> {
    const now = this.now();
    const { changes } = this.stmt.renew.run({ scope, key, claim, now, lockedUntil: now + this.leaseMs });
    return changes > 0;
  }

  async release(key: string, scope: string, claim: string): Promise<void> {
    this.stmt.release.run({ scope, key, claim });
  }

  async purgeExpired(): Promise<number> {
    const now = this.now();
    let total = 0;
    for (let n = PURGE_BATCH; n === PURGE_BATCH; total += n) n = this.purgeBatch(now);
    return total;
  }

  async close(): Promise<void> {
    await this.wal.idle();
    if (this.db.open) this.db.close();
  }

  private purgeBatch(now: number): number {
    return this.stmt.purge.run({ now, limit: PURGE_BATCH }).changes;
  }
}

function prepareStatements(db: SqliteDatabase) {
  return {
    get: db.prepare(
      `SELECT request_hash, state, claim, response, locked_until, expires_at
         FROM idempotency_keys WHERE scope = @scope AND key = @key`,
    ),
    claim: db.prepare(
      `INSERT INTO idempotency_keys (scope, key, request_hash, state, claim, response, locked_until, expires_at)
       VALUES (@scope, @key, @requestHash, 'in-flight', @claim, NULL, @lockedUntil, @expiresAt)
       ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, state = 'in-flight',
         claim = excluded.claim, response = NULL, locked_until = excluded.locked_until,
         expires_at = excluded.expires_at`,
    ),
    takeOver: db.prepare(
      `UPDATE idempotency_keys SET claim = @claim, locked_until = @lockedUntil
        WHERE scope = @scope AND key = @key AND request_hash = @requestHash AND state = 'in-flight'`,
    ),
    renew: db.prepare(
      `UPDATE idempotency_keys SET locked_until = @lockedUntil
        WHERE scope = @scope AND key = @key AND state = 'in-flight' AND claim = @claim AND expires_at > @now`,
    ),
    complete: db.prepare(
      `UPDATE idempotency_keys SET state = 'done', claim = NULL, response = @response
        WHERE scope = @scope AND key = @key AND state = 'in-flight' AND claim = @claim`,
    ),
    release: db.prepare(
      `DELETE FROM idempotency_keys
        WHERE scope = @scope AND key = @key AND state = 'in-flight' AND claim = @claim`,
    ),
    purge: db.prepare(
      `DELETE FROM idempotency_keys WHERE (scope, key) IN (
         SELECT scope, key FROM idempotency_keys WHERE expires_at <= @now LIMIT @limit)`,
    ),
  };
}

export function openSqliteIdempotencyStore(options: SqliteIdempotencyStoreOptions): SqliteIdempotencyStore {
  return new SqliteIdempotencyStore(options);
}
