import { open } from 'node:fs/promises';
import { immediate, SqliteDatabase } from './sqlite';

/**
 * Durable commits without blocking the event loop, for a connection in WAL mode.
 *
 * In WAL mode, `synchronous = FULL` is `NORMAL` plus one fsync of the WAL file after each commit
 * (https://www.sqlite.org/pragma.html#pragma_synchronous). Done inside the commit, that fsync blocks the Node
 * thread for its whole duration (0.1 ms to several ms, with the disk and its load). Here the transaction
 * commits under `NORMAL` (no fsync; the frames are in the OS page cache), and `sync()` then runs the same fsync
 * of the WAL file on the libuv thread pool. Callers resolve only after it, so an acknowledged commit is exactly as
 * durable as under FULL. One fsync covers every frame written before it started, by any connection of any
 * process, so commits made while one runs share the next (group commit).
 *
 * What changes against FULL: a commit is visible to readers between its commit and its fsync. Nothing was
 * acknowledged then, and a process crash keeps it (it is in the page cache); only a power loss in that window
 * can take back a change somebody already read. Checkpoints keep their own syncs under NORMAL (WAL before,
 * database after), so frames already checkpointed out of a recycled WAL are durable in the database file.
 */
export class WalSync {
  private readonly syncNormal;
  private readonly syncFull;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private count = 0;

  /** `db` must be a WAL connection opened with `synchronous = FULL` (see `openSqlite`). */
  constructor(
    private readonly db: SqliteDatabase,
    /** The database file; its WAL is `<file>-wal`. */
    private readonly file: string,
  ) {
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /** How many WAL fsyncs this instance has completed (for tests and diagnostics). */
  get fsyncs(): number {
    return this.count;
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction that commits without an fsync; the connection is FULL again
   * afterwards. Not durable until a `sync()` called after it resolves.
   */
  commitWithoutFsync<T>(fn: () => T): T {
    this.syncNormal.run();
    try {
      return immediate(this.db, fn);
    } finally {
      this.syncFull.run();
    }
  }

  /**
   * Resolves once every commit made before this call is on disk. A fsync already running may have started
   * before the caller's commit, so the caller waits for the next one, which every caller arriving meanwhile
   * shares.
   */
  sync(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.fsyncWal();
      return this.running;
    }
    this.queued ??= this.running.then(noop, noop).then(() => {
      this.queued = undefined;
      this.running = this.fsyncWal();
      return this.running;
    });
    return this.queued;
  }

  /** Waits for the fsyncs in progress (before closing the connection). */
  async idle(): Promise<void> {
    while (this.running ?? this.queued) await (this.queued ?? this.running)!.then(noop, noop);
  }

  private async fsyncWal(): Promise<void> {
    try {
      // Opened per sync: a path opened now is the WAL that holds the frames just committed, whatever another
      // process did to the file before (SQLite never removes the WAL while a connection, ours, is open).
      const handle = await open(`${this.file}-wal`, 'r+');
      try {
        await handle.sync();
        this.count++;
      } finally {
        await handle.close();
      }
    } finally {
      this.running = undefined;
    }
  }
}

function noop(): void {}
