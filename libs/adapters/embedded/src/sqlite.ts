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
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so no upgrade deadlocks. */
export function immediate<T>(db: SqliteDatabase, fn: () => T): T {
  return db.transaction(fn).immediate();
}
