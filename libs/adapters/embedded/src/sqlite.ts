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
  /**
   * Longest synchronous wait for a lock held by another connection (default 10 s). better-sqlite3 is
   * synchronous, so the event loop stands still while it waits: connections whose write transactions go through
   * `immediateAsync` can use a short one.
   */
  busyTimeoutMs?: number;
}

/**
 * Opens a SQLite file for use by several processes at once: WAL (readers never block the writer), a busy
 * timeout instead of SQLITE_BUSY errors under contention, foreign keys on.
 */
export function openSqlite(file: string, options: OpenSqliteOptions): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
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

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/** Up to ~10 s of waiting in all (10, 20, ... 440 ms). */
const OPEN_BUSY_ATTEMPTS = 45;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so no upgrade deadlocks. */
export function immediate<T>(db: SqliteDatabase, fn: () => T): T {
  return db.transaction(fn).immediate();
}

export interface ImmediateAsyncOptions {
  /** Longest synchronous wait for the write lock per attempt: the event loop is blocked this long at most. */
  syncWaitMs?: number;
  /**
   * Patience before SQLITE_BUSY reaches the caller, counted as the sum of the waits between attempts
   * (default 10 s: the synchronous busy timeout this replaces, which start-up and crash recovery rely on).
   */
  timeoutMs?: number;
  /** Between attempts (tests count the attempts with it); default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * `immediate` for call sites that can wait asynchronously: BEGIN IMMEDIATE is tried with a short busy timeout
 * and, while another connection (another process) holds the write lock, tried again after a growing timer
 * wait, so the event loop keeps serving meanwhile. In WAL mode BEGIN IMMEDIATE is where a writer waits: once
 * it holds the lock, `fn` and the commit do not wait for other writers. `fn` runs synchronously, as with
 * `immediate`; a throw rolls the transaction back.
 */
export async function immediateAsync<T>(
  db: SqliteDatabase,
  fn: () => T,
  options: ImmediateAsyncOptions = {},
): Promise<T> {
  const syncWaitMs = Math.max(0, Math.floor(options.syncWaitMs ?? 20));
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  if (db.inTransaction) return db.transaction(fn)(); // nested: a savepoint of the caller's transaction
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    const busy = tryBeginImmediate(db, syncWaitMs);
    if (busy === undefined) break;
    if (waited >= timeoutMs) throw busy;
    const pause = Math.min(timeoutMs - waited, 5 * 2 ** Math.min(attempt - 1, 5)); // 5, 10, ... 160 ms
    waited += pause;
    await sleep(pause);
  }
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

/**
 * BEGIN IMMEDIATE with the connection's busy timeout lowered to `waitMs` for this statement only: undefined
 * when the lock is taken, the SQLITE_BUSY error when another connection holds it.
 */
function tryBeginImmediate(db: SqliteDatabase, waitMs: number): Error | undefined {
  const saved = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma(`busy_timeout = ${waitMs}`);
  try {
    db.exec('BEGIN IMMEDIATE');
    return undefined;
  } catch (e) {
    if (isBusy(e)) return e as Error;
    throw e;
  } finally {
    db.pragma(`busy_timeout = ${saved}`);
  }
}
