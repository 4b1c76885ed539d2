import { randomUUID } from 'node:crypto';
import { HeldLease, LeaseLock } from '@twinstore/application';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';

export interface SqliteLeaseLockOptions {
  /** Usually the activity store's file: every process of the data directory shares it. */
  file: string;
  /** Wall clock for expiry (leases are about process liveness, not simulated time). */
  now?: () => number;
}

/**
 * Named leases as SQLite rows (holder, expiry). Acquiring is one IMMEDIATE transaction: take the row if it is
 * free or expired. Expiry is wall-clock time, so a crashed holder's lease ends on its own.
 */
export class SqliteLeaseLock implements LeaseLock {
  private readonly db: SqliteDatabase;
  private readonly now: () => number;

  constructor(options: SqliteLeaseLockOptions) {
    this.now = options.now ?? Date.now;
    this.db = openSqlite(options.file, { synchronous: 'normal' });
    immediate(this.db, () =>
      this.db.exec(`CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      )`),
    );
  }

  async tryAcquire(name: string, ttlSeconds: number): Promise<HeldLease | null> {
    const holder = randomUUID();
    const ttlMs = ttlSeconds * 1000;
    const take = () =>
      immediate(this.db, () => {
        const now = this.now();
        const { changes } = this.db
          .prepare(
            `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.expires_at <= ? OR leases.holder = excluded.holder`,
          )
          .run(name, holder, now + ttlMs, now);
        return changes > 0;
      });
    if (!take()) return null;
    return {
      renew: async () => this.db.open && take(),
      release: async () => {
        if (this.db.open)
          this.db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder);
      },
    };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

export function openSqliteLeaseLock(options: SqliteLeaseLockOptions): SqliteLeaseLock {
  return new SqliteLeaseLock(options);
}
