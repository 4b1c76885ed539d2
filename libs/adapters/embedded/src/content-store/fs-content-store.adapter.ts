import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  BlobProperties,
  BlobTier,
  BlobTiering,
  ContentStore,
  CopyState,
  PreconditionFailedError,
  PutBlobItem,
  PutBlobOptions,
  PutBlobOutcome,
} from '@twinstore/application';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';
import { WalSync } from '../wal-sync';
import { assertBlobPath, assertBlobPrefix, prefixUpperBound } from './blob-path';
import { ObjectFiles } from './object-files';

export interface FsContentStoreOptions {
  dir: string;
  /**
   * Durability of the name -> object index. `full` (default) survives power loss: a put resolves only after
   * the WAL holding its row is fsynced (off the event loop, shared by concurrent puts). Object files are
   * fsynced in both modes, because a row that survives must never point at bytes that did not.
   */
  synchronous?: 'full' | 'normal';
  /** Rows per internal list() query (default 500). */
  listPageSize?: number;
}

export interface FsGarbageCollectionResult {
  /** Object files no blob referenced (left by a crash between the object write and the index commit). */
  objects: number;
  /** Temp files of writers that died mid-write. */
  tempFiles: number;
}

const BLOB_TIERS: readonly BlobTier[] = ['hot', 'cool', 'archive'];
const READ_ATTEMPTS = 5;
const MAX_PUTS_PER_COMMIT = 256;
const SCHEMA_VERSION = 1;
// Valid paths only use characters below DEL, so DEL bounds the whole key space for an empty prefix.
const ABOVE_EVERY_PATH = '\x7f';

interface BlobRow {
  path: string;
  object: Buffer;
  etag: string;
  size: number;
  content_type: string;
  metadata: string;
  last_modified: number;
  tier: BlobTier;
}

interface PendingPut {
  path: string;
  hash: Buffer;
  body: Buffer;
  etag: string;
  metadata: string;
  options: PutBlobOptions;
  resolve(): void;
  reject(error: Error): void;
}

const COLUMNS = 'path, object, etag, size, content_type, metadata, last_modified, tier';

/**
 * The embedded source of truth. Blob names are logical paths mapped, in SQLite (`blobs.db`), to immutable
 * content-addressed object files (`objects/ab/cdef...`, sha256).
 *
 * Crash safety: put() makes the object durable first (temp file, fsync, rename, fsync dir) and only then
 * commits the row in one IMMEDIATE transaction that also checks the preconditions; it resolves once the WAL
 * holding the row is fsynced (see flushPuts). putMany() does the same steps for a whole group, each step for
 * every object before the next (ObjectFiles.ensureMany), then commits all rows at once. A kill at any moment
 * leaves the old row or the new row, each pointing at complete bytes; the worst case is an orphan object
 * file, which collectGarbage() reclaims.
 *
 * Several processes may share a directory: SQLite WAL serialises the commits, and every decision that
 * unlinks an object is taken under SQLite's write lock (see collect()).
 */
export class FsContentStore implements ContentStore, BlobTiering {
  private readonly db: SqliteDatabase;
  /** Present under `synchronous: 'full'`: makes group commits durable without blocking the event loop. */
  private readonly wal: WalSync | undefined;
  private readonly objects: ObjectFiles;
  private readonly stmt: Statements;
  /** Groups of puts waiting for their commit; a group (one putMany) is never split across commits. */
  private readonly commitQueue: PendingPut[][] = [];
  private flushScheduled = false;
  /** Object files waiting to be written as the next group (see writeObjects). */
  private objectQueue: { hash: Buffer; body: Buffer; settle(error: Error | undefined): void }[] = [];
  private objectsScheduled = false;
  private objectsWriting = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly listPageSize: number;

  constructor(options: FsContentStoreOptions) {
    this.listPageSize = options.listPageSize ?? 500;
    if (!Number.isInteger(this.listPageSize) || this.listPageSize < 1) {
      throw new Error('listPageSize must be a positive integer');
    }
    this.objects = new ObjectFiles(options.dir);
    const file = join(options.dir, 'blobs.db');
    const synchronous = options.synchronous ?? 'full';
    this.db = openSqlite(file, { synchronous });
    migrate(this.db);
    this.stmt = prepareStatements(this.db);
    this.wal = synchronous === 'full' ? new WalSync(this.db, file) : undefined;
  }

  put(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }> {
    return this.track(this.putOnce(path, body, options));
  }

  /**
   * A group of puts made durable together: every object file is written first, then all of them fsynced at
   * once, renamed, and each touched directory fsynced once (ObjectFiles.ensureMany); then all rows commit in
   * one transaction and one WAL fsync. Each item keeps its own precondition and outcome.
   */
  putMany(items: readonly PutBlobItem[]): Promise<PutBlobOutcome[]> {
    return this.track(this.putGroup(items));
  }

  /** Tracked so that close() lets accepted puts finish instead of failing them half-way. */
  private track<T>(pending: Promise<T>): Promise<T> {
    this.inFlight.add(pending);
    const untrack = () => this.inFlight.delete(pending);
    pending.then(untrack, untrack);
    return pending;
  }

  private async putOnce(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }> {
    assertBlobPath(path);
    assertPutOptions(options);
    this.refuseEarly(path, options);
    const hash = ObjectFiles.hash(body);
    const [failure] = await this.writeObjects([{ hash, body }]);
    if (failure) throw failure;
    const put = this.pendingPut(path, hash, body, options);
    this.enqueue([put.pending]);
    await put.settled;
    return { etag: put.pending.etag };
  }

  /**
   * Group commit of object files, for put() and putMany() alike: one group is written at a time
   * (ObjectFiles.ensureMany), and whatever arrives meanwhile becomes the next group, so the busier the store,
   * the more objects share each fsync phase. The objects of a group come back together, so their rows reach the
   * commit queue in the same turn. Resolves, per object, its error or undefined once it is durable.
   */
  private writeObjects(objects: { hash: Buffer; body: Buffer }[]): Promise<(Error | undefined)[]> {
    const settled = Promise.all(
      objects.map((o) => new Promise<Error | undefined>((settle) => this.objectQueue.push({ ...o, settle }))),
    );
    this.scheduleObjects();
    return settled;
  }

  private scheduleObjects(): void {
    if (this.objectsWriting || this.objectsScheduled || this.objectQueue.length === 0) return;
    this.objectsScheduled = true;
    setImmediate(() => this.flushObjects());
  }

  private flushObjects(): void {
    this.objectsScheduled = false;
    const group = this.objectQueue;
    this.objectQueue = [];
    this.objectsWriting = true;
    this.objects
      .ensureMany(group)
      .then(
        (outcomes) => group.forEach((o, i) => o.settle(outcomes[i])),
        (e: unknown) => group.forEach((o) => o.settle(e as Error)),
      )
      .finally(() => {
        this.objectsWriting = false;
        this.scheduleObjects();
      });
  }

  private async putGroup(items: readonly PutBlobItem[]): Promise<PutBlobOutcome[]> {
    const outcomes: PutBlobOutcome[] = new Array(items.length);
    const valid: { index: number; item: PutBlobItem; hash: Buffer }[] = [];
    const paths = new Set<string>();
    items.forEach((item, index) => {
      try {
        assertBlobPath(item.path);
        assertPutOptions(item.options);
        if (paths.has(item.path)) throw new Error(`${item.path} appears twice in one putMany group`);
        paths.add(item.path);
        this.refuseEarly(item.path, item.options);
        valid.push({ index, item, hash: ObjectFiles.hash(item.body) });
      } catch (e) {
        outcomes[index] = e as Error;
      }
    });
    const written = await this.writeObjects(valid.map(({ hash, item }) => ({ hash, body: item.body })));
    const puts: { index: number; put: ReturnType<FsContentStore['pendingPut']> }[] = [];
    valid.forEach(({ index, item, hash }, i) => {
      const failure = written[i];
      if (failure) outcomes[index] = failure;
      else puts.push({ index, put: this.pendingPut(item.path, hash, item.body, item.options) });
    });
    this.enqueue(puts.map(({ put }) => put.pending));
    await Promise.all(
      puts.map(({ index, put }) =>
        put.settled.then(
          () => (outcomes[index] = { etag: put.pending.etag }),
          (e: unknown) => (outcomes[index] = e as Error),
        ),
      ),
    );
    return outcomes;
  }

  /**
   * A precondition that already fails is refused before any object is written: create-first writers meet an
   * existing blob routinely, and its object write would be all fsyncs for nothing. The commit checks again.
   */
  private refuseEarly(path: string, options: PutBlobOptions): void {
    if (options.ifNoneMatch === undefined && options.ifMatch === undefined) return;
    const current = this.stmt.select.get(path);
    if (options.ifNoneMatch === '*' && current) throw new PreconditionFailedError(path);
    if (options.ifMatch !== undefined && !etagMatches(options.ifMatch, current)) {
      throw new PreconditionFailedError(path);
    }
  }

  private pendingPut(
    path: string,
    hash: Buffer,
    body: Buffer,
    options: PutBlobOptions,
  ): { pending: PendingPut; settled: Promise<void> } {
    const etag = `"${randomBytes(12).toString('hex')}"`;
    const metadata = JSON.stringify(options.metadata ?? {});
    let pending!: PendingPut;
    const settled = new Promise<void>((resolve, reject) => {
      pending = { path, hash, body, etag, metadata, options, resolve, reject };
    });
    return { pending, settled };
  }

  private enqueue(group: PendingPut[]): void {
    if (group.length === 0) return;
    this.commitQueue.push(group);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPuts());
    }
  }

  /**
   * Group commit: the puts whose objects became durable by the same turn of the event loop share one
   * IMMEDIATE transaction (at most MAX_PUTS_PER_COMMIT, unless a single putMany group is larger: a group is
   * never split). It commits without an fsync; the WAL fsync runs on
   * the thread pool, shared with every other commit made meanwhile (WalSync), and each put is answered only
   * after it. Each put still checks its own precondition against the rows as left by the puts before it; a
   * refused put writes nothing and does not affect the others. An error of the transaction itself fails the
   * whole batch, which then committed nothing.
   */
  private flushPuts(): void {
    this.flushScheduled = false;
    const batch: PendingPut[] = [];
    while (this.commitQueue.length > 0) {
      if (batch.length > 0 && batch.length + this.commitQueue[0].length > MAX_PUTS_PER_COMMIT) break;
      batch.push(...this.commitQueue.shift()!);
    }
    if (batch.length === 0) return;
    if (this.commitQueue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPuts());
    }
    let outcomes: (Buffer | Error | undefined)[];
    try {
      const apply = () => batch.map((put) => this.applyPut(put));
      outcomes = this.wal ? this.wal.commitWithoutFsync(apply) : immediate(this.db, apply);
    } catch (e) {
      // Rolled back: no row of this batch exists, so no durability to wait for.
      this.settlePuts(
        batch,
        batch.map(() => e as Error),
      );
      return;
    }
    if (!this.wal) {
      this.settlePuts(batch, outcomes);
      return;
    }
    this.wal.sync().then(
      () => this.settlePuts(batch, outcomes),
      // Committed, but not known to be durable: the callers must not take it as written. Replaced objects
      // stay (the old rows may be what survives), at worst as collectable orphans.
      (e: unknown) => {
        for (const put of batch) put.reject(e as Error);
      },
    );
  }

  /**
   * Answers each put of a committed (and, under `full`, durable) batch, then unlinks the objects it left
   * unreferenced. Only now: unlinking an object replaced by a row that a power loss could still undo would
   * leave the old row pointing at nothing.
   */
  private settlePuts(batch: PendingPut[], outcomes: (Buffer | Error | undefined)[]): void {
    const garbage: Buffer[] = [];
    batch.forEach((put, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) {
        // A refused or failed put must not leave its object behind (unless another blob shares it).
        garbage.push(put.hash);
        put.reject(outcome);
      } else {
        if (outcome && !outcome.equals(put.hash)) garbage.push(outcome);
        put.resolve();
      }
    });
    this.collect(garbage);
  }

  /** Inside the commit transaction: the replaced object (if any), or the precondition failure. */
  private applyPut(put: PendingPut): Buffer | PreconditionFailedError | undefined {
    const { path, options } = put;
    const current = this.stmt.select.get(path);
    if (options.ifNoneMatch === '*' && current) return new PreconditionFailedError(path);
    if (options.ifMatch !== undefined && !etagMatches(options.ifMatch, current)) {
      return new PreconditionFailedError(path);
    }
    // A concurrent delete or collectGarbage() (any process) may have unlinked an identical object between
    // ensureMany() and this transaction. We hold the write lock now, and every unlink happens under that lock
    // after checking that no row references the object; so once the file is present here and our row
    // commits, nobody can remove it.
    this.objects.ensureSync(put.hash, put.body);
    this.stmt.upsert.run({
      path,
      object: put.hash,
      etag: put.etag,
      size: put.body.length,
      contentType: options.contentType,
      metadata: put.metadata,
      lastModified: Date.now(),
    });
    return current?.object;
  }

  async get(path: string): Promise<{ body: Buffer; properties: BlobProperties } | null> {
    assertBlobPath(path);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const row = this.stmt.select.get(path);
      if (!row) return null;
      // The row is read without a lock, so the object may be collected before we open it; that only happens
      // after the row changed, so read the row again and retry.
      const body = await this.objects.read(row.object);
      if (body) return { body, properties: toProperties(row) };
      const now = this.stmt.select.get(path);
      if (now?.etag === row.etag) {
        throw new Error(`object of blob ${path} is missing from ${this.objects.objectsDir}`);
      }
    }
    throw new Error(`blob ${path} kept changing while being read`);
  }

  async head(path: string): Promise<BlobProperties | null> {
    assertBlobPath(path);
    const row = this.stmt.select.get(path);
    return row ? toProperties(row) : null;
  }

  async delete(path: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    assertBlobPath(path);
    const removed = immediate(this.db, () => {
      const current = this.stmt.select.get(path);
      if (!current) return null;
      if (options.ifMatch !== undefined && !etagMatches(options.ifMatch, current)) {
        throw new PreconditionFailedError(path);
      }
      this.stmt.delete.run(path);
      return current.object;
    });
    if (!removed) return false;
    this.collect([removed]);
    return true;
  }

  async *list(prefix: string): AsyncIterable<BlobProperties> {
    assertBlobPrefix(prefix);
    const upper = prefixUpperBound(prefix) ?? ABOVE_EVERY_PATH;
    // Keyset pages, each its own short read: millions of blobs never sit in memory at once, and no read
    // transaction stays open while the caller works (which would stall WAL checkpoints).
    let rows = this.stmt.listFirst.all(prefix, upper, this.listPageSize);
    while (rows.length > 0) {
      for (const row of rows) yield toProperties(row);
      if (rows.length < this.listPageSize) return;
      rows = this.stmt.listNext.all(rows[rows.length - 1].path, upper, this.listPageSize);
    }
  }

  /** Moves a blob to another access tier; content, etag and lastModified stay. False if there is no blob. */
  async setTier(path: string, tier: BlobTier): Promise<boolean> {
    assertBlobPath(path);
    if (!BLOB_TIERS.includes(tier)) throw new Error('blob tier must be hot, cool or archive');
    return this.stmt.setTier.run(tier, path).changes > 0;
  }

  /**
   * Copy-based rehydration: a new Hot blob at `target` with the source's bytes and metadata. The copy is
   * complete at once here (objects are local); the embedded profile's delay is the rehydration job's.
   */
  async startRehydration(source: string, target: string): Promise<CopyState> {
    assertBlobPath(target);
    if (await this.head(target)) return 'completed';
    const blob = await this.get(source);
    if (!blob) return 'missing';
    await this.put(target, blob.body, {
      contentType: blob.properties.contentType,
      metadata: blob.properties.metadata,
    });
    return 'completed';
  }

  async rehydrationState(target: string): Promise<CopyState> {
    return (await this.head(target)) ? 'completed' : 'missing';
  }

  /** Number of blobs and their total size in bytes (logical sizes, before de-duplication of identical bodies). */
  stats(): { blobs: number; bytes: number } {
    const { blobs, bytes } = this.stmt.stats.get()!;
    return { blobs, bytes };
  }

  /**
   * Reclaims object files no blob references and temp files of dead writers. Safe while other processes
   * write: each unlink is decided under the write lock, and a put that needs a collected object re-creates
   * it before it commits.
   */
  async collectGarbage(options: { tempOlderThanMs?: number } = {}): Promise<FsGarbageCollectionResult> {
    let objects = 0;
    for await (const hashes of this.objects.scan()) {
      objects += immediate(this.db, () => {
        let removed = 0;
        for (const hash of hashes) {
          if (!this.stmt.referenced.get(hash) && this.objects.unlinkSync(hash)) removed++;
        }
        return removed;
      });
    }
    const tempFiles = await this.objects.removeStaleTempFiles(options.tempOlderThanMs ?? 3_600_000);
    return { objects, tempFiles };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    await this.wal?.idle();
    if (this.db.open) this.db.close();
  }

  /**
   * Unlinks objects that no row references any more. The check and the unlink run inside an IMMEDIATE
   * transaction (which writes nothing, so it costs no fsync): that is what serialises them against the
   * re-check in applyPut(). It runs after the row change committed, never inside it: unlinking before a
   * commit that then fails (crash, I/O error) would leave a row pointing at nothing. A crash between the
   * commit and this call leaves an orphan file, which is harmless and collectable.
   */
  private collect(hashes: Buffer[]): void {
    if (hashes.length === 0) return;
    try {
      immediate(this.db, () => {
        for (const hash of hashes) if (!this.stmt.referenced.get(hash)) this.objects.unlinkSync(hash);
      });
    } catch {
      // The row change is committed and reported; a file we failed to unlink is only an orphan.
    }
  }
}

export function openFsContentStore(options: FsContentStoreOptions): FsContentStore {
  return new FsContentStore(options);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: SqliteDatabase) {
  return {
    select: db.prepare<[string], BlobRow>(`SELECT ${COLUMNS} FROM blobs WHERE path = ?`),
    upsert: db.prepare(
      `INSERT INTO blobs (${COLUMNS})
       VALUES (@path, @object, @etag, @size, @contentType, @metadata, @lastModified, 'hot')
       ON CONFLICT (path) DO UPDATE SET
         object = excluded.object, etag = excluded.etag, size = excluded.size,
         content_type = excluded.content_type, metadata = excluded.metadata,
         last_modified = excluded.last_modified, tier = excluded.tier`,
    ),
    delete: db.prepare<[string]>('DELETE FROM blobs WHERE path = ?'),
    referenced: db.prepare<[Buffer], { one: number }>('SELECT 1 AS one FROM blobs WHERE object = ? LIMIT 1'),
    listFirst: db.prepare<[string, string, number], BlobRow>(
      `SELECT ${COLUMNS} FROM blobs WHERE path >= ? AND path < ? ORDER BY path LIMIT ?`,
    ),
    listNext: db.prepare<[string, string, number], BlobRow>(
      `SELECT ${COLUMNS} FROM blobs WHERE path > ? AND path < ? ORDER BY path LIMIT ?`,
    ),
    setTier: db.prepare<[BlobTier, string]>('UPDATE blobs SET tier = ? WHERE path = ?'),
    stats: db.prepare<[], { blobs: number; bytes: number }>(
      'SELECT COUNT(*) AS blobs, COALESCE(SUM(size), 0) AS bytes FROM blobs',
    ),
  };
}

function migrate(db: SqliteDatabase): void {
  immediate(db, () => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`blobs.db has schema version ${version}; this build knows up to ${SCHEMA_VERSION}`);
    }
    if (version === SCHEMA_VERSION) return;
    db.exec(`
      CREATE TABLE blobs (
        path TEXT PRIMARY KEY,
        object BLOB NOT NULL,
        etag TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        metadata TEXT NOT NULL,
        last_modified INTEGER NOT NULL,
        tier TEXT NOT NULL CHECK (tier IN ('hot', 'cool', 'archive'))
      );
      CREATE INDEX blobs_object ON blobs (object);
    `);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
}

function etagMatches(ifMatch: string, current: BlobRow | undefined): boolean {
  return current !== undefined && (ifMatch === '*' || ifMatch === current.etag);
}

function assertPutOptions(options: PutBlobOptions): void {
  if (typeof options?.contentType !== 'string' || options.contentType.length === 0) {
    throw new Error('contentType is required');
  }
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (typeof value !== 'string') throw new Error(`blob metadata "${key.slice(0, 64)}" must be a string`);
  }
}

function toProperties(row: BlobRow): BlobProperties {
  return {
    path: row.path,
    etag: row.etag,
    size: row.size,
    contentType: row.content_type,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    lastModified: new Date(row.last_modified),
    tier: row.tier,
  };
}
