import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /**
   * `full` fsyncs the WAL on every commit (survives power loss): for the source of truth and the bus.
   * `normal` survives a process crash but may lose the last commits on power loss: for rebuildable projections.
   */
  synchronous: 'full' | 'normal';
}

/**
 * Opens a SQLite file for use by several processes at once: WAL (readers never block the writer), a busy
 * timeout instead of SQLITE_BUSY errors under contention, foreign keys on.
 */
export function openSqlite(file: string, options: OpenSqliteOptions): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('busy_timeout = 10000');
  // Processes starting together (a deployment, a restart after a crash) meet here. Some WAL set-up steps
  // (recovery of the WAL index, the switch to WAL) answer SQLITE_BUSY without calling the busy handler: the
  // open is retried for a while instead of taking the service down.
  for (let attempt = 1; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      break;
    } catch (e) {
      if (!isBusy(e) || attempt >= OPEN_BUSY_ATTEMPTS) {
        db.close();
        throw e;
      }
      Atomics.wait(SLEEPER, 0, 0, 10 * attempt);
    }
  }
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Up to ~10 s of waiting in all (10, 20, ... 440 ms). */
const OPEN_BUSY_ATTEMPTS = 45;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so no upgrade deadlocks. */
export function immediate<T>(db: SqliteDatabase, fn: () => T): T {
  return db.transaction(fn).immediate();
}
