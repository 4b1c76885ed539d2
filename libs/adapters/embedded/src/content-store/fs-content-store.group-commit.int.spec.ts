import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeTempDir, pollUntil, TempDir } from '@twinstore/testing';
import { PreconditionFailedError, PutBlobItem } from '@twinstore/application';
import { WalSync } from '../wal-sync';
import { FsContentStore, openFsContentStore } from './fs-content-store.adapter';
import { ObjectFiles } from './object-files';

const MD = 'text/markdown; charset=utf-8';
const put = { contentType: MD };

function objectFiles(dir: string): string[] {
  const root = join(dir, 'objects');
  return readdirSync(root).flatMap((shard) => readdirSync(join(root, shard)));
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Puts reach the commit queue when their object file is durable, which takes each a different time; these
 * tests hold every object write and release them together (the commit writes a missing object itself).
 */
function objectsLandTogether(): () => void {
  const all = gate();
  vi.spyOn(ObjectFiles.prototype, 'ensureMany').mockImplementation((objects) =>
    all.promise.then(() => objects.map(() => undefined)),
  );
  return all.open;
}

const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('FsContentStore group commit of the name table', () => {
  let tmp: TempDir;
  let store: FsContentStore;

  beforeEach(async () => {
    tmp = await makeTempDir('fs-group-commit');
    store = openFsContentStore({ dir: tmp.dir });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    await tmp.cleanup();
  });

  it('commits concurrent puts in one transaction made durable by one WAL fsync', async () => {
    const commit = vi.spyOn(WalSync.prototype, 'commitWithoutFsync');
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    const release = objectsLandTogether();
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(`body ${i}`));
    const puts = Promise.all(bodies.map((b, i) => store.put(`a/${i}.md`, b, put)));
    release();
    await puts;
    expect(commit).toHaveBeenCalledTimes(1);
    expect(sync).toHaveBeenCalledTimes(1);
    expect((sync.mock.contexts[0] as WalSync).fsyncs).toBe(1);
    for (let i = 0; i < bodies.length; i++) expect((await store.get(`a/${i}.md`))?.body).toEqual(bodies[i]);
  });

  it('answers no put before the fsync that covers its commit has completed', async () => {
    const fsync = gate();
    const original = WalSync.prototype.sync;
    vi.spyOn(WalSync.prototype, 'sync').mockImplementationOnce(function (this: WalSync) {
      return fsync.promise.then(() => original.call(this));
    });
    let answered = false;
    const pending = store.put('a/x.md', Buffer.from('x'), put).then(() => (answered = true));
    await pollUntil(async () => (await store.head('a/x.md')) !== null, 'the commit'); // readable
    await turns();
    expect(answered).toBe(false); // but not answered before the fsync
    fsync.open();
    await pending;
    expect(answered).toBe(true);
  });

  it('unlinks a replaced object only once the row replacing it is durable', async () => {
    await store.put('a/x.md', Buffer.from('old'), put);
    const oldObject = new ObjectFiles(tmp.dir).pathOf(ObjectFiles.hash(Buffer.from('old')));
    const fsync = gate();
    const original = WalSync.prototype.sync;
    vi.spyOn(WalSync.prototype, 'sync').mockImplementationOnce(function (this: WalSync) {
      return fsync.promise.then(() => original.call(this));
    });
    const replacing = store.put('a/x.md', Buffer.from('new'), put);
    await pollUntil(async () => (await store.get('a/x.md'))?.body.toString() === 'new', 'the commit');
    expect(existsSync(oldObject)).toBe(true);
    fsync.open();
    await replacing;
    expect(existsSync(oldObject)).toBe(false);
  });

  it('rejects every put of a batch whose transaction fails, and commits nothing of it', async () => {
    const other = new Database(join(tmp.dir, 'blobs.db'));
    other.exec(`CREATE TRIGGER poison BEFORE INSERT ON blobs WHEN NEW.path = 'a/poison.md'
                BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END`);
    other.close();
    const release = objectsLandTogether();
    const puts = Promise.allSettled([
      store.put('a/one.md', Buffer.from('one'), put),
      store.put('a/two.md', Buffer.from('two'), put),
      store.put('a/poison.md', Buffer.from('poison'), put),
    ]);
    release();
    const results = await puts;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain('poisoned batch');
    expect(await store.head('a/one.md')).toBeNull();
    expect(await store.head('a/two.md')).toBeNull();
    expect(objectFiles(tmp.dir)).toEqual([]); // no orphans left behind
    vi.restoreAllMocks();
    await store.put('a/three.md', Buffer.from('three'), put);
    expect((await store.get('a/three.md'))?.body.toString()).toBe('three');
  });

  it('rejects the puts of a batch whose fsync fails', async () => {
    vi.spyOn(WalSync.prototype, 'sync').mockRejectedValueOnce(new Error('EIO: fsync failed'));
    await expect(store.put('a/x.md', Buffer.from('x'), put)).rejects.toThrow('EIO');
    await expect(store.put('a/y.md', Buffer.from('y'), put)).resolves.toBeDefined();
  });

  it('putMany: writes a group in one transaction and one WAL fsync; each item keeps its own outcome', async () => {
    await store.put('g/taken.md', Buffer.from('already there'), put);
    const commit = vi.spyOn(WalSync.prototype, 'commitWithoutFsync');
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    const items: PutBlobItem[] = Array.from({ length: 300 }, (_, i) => ({
      path: `g/${i}.md`,
      body: Buffer.from(`body ${i % 250}`), // some identical bodies: one object each
      options: { ...put, ifNoneMatch: '*' as const },
    }));
    items[7] = { path: 'g/taken.md', body: Buffer.from('refused'), options: { ...put, ifNoneMatch: '*' } };
    items[8] = { path: '../escape.md', body: Buffer.from('bad path'), options: put };
    items[9] = { path: 'g/1.md', body: Buffer.from('same path twice'), options: put };
    const outcomes = await store.putMany(items);
    expect(commit).toHaveBeenCalledTimes(1); // more than MAX_PUTS_PER_COMMIT, still one group
    expect(sync).toHaveBeenCalledTimes(1);
    expect(outcomes[7]).toBeInstanceOf(PreconditionFailedError);
    expect(outcomes[8]).toBeInstanceOf(Error);
    expect((outcomes[9] as Error).message).toContain('twice');
    expect((await store.get('g/taken.md'))?.body.toString()).toBe('already there');
    expect((await store.get('g/1.md'))?.body.toString()).toBe('body 1');
    for (const [i, item] of items.entries()) {
      if (i >= 7 && i <= 9) continue;
      expect(outcomes[i]).toEqual({ etag: (await store.head(item.path))?.etag });
      expect((await store.get(item.path))?.body).toEqual(item.body);
    }
    expect(objectFiles(tmp.dir)).toHaveLength(251); // 250 distinct bodies and 'already there'
  });

  it('putMany: a refused create writes no object file', async () => {
    await store.put('g/x.md', Buffer.from('first'), put);
    const [outcome] = await store.putMany([
      { path: 'g/x.md', body: Buffer.from('second'), options: { ...put, ifNoneMatch: '*' } },
    ]);
    expect(outcome).toBeInstanceOf(PreconditionFailedError);
    expect(objectFiles(tmp.dir)).toHaveLength(1);
  });

  it('putMany: an item whose object cannot be written fails alone', async () => {
    const ensureMany = ObjectFiles.prototype.ensureMany;
    vi.spyOn(ObjectFiles.prototype, 'ensureMany').mockImplementationOnce(async function (
      this: ObjectFiles,
      objects,
    ) {
      const outcomes = await ensureMany.call(this, objects);
      return outcomes.map((o, i) => (i === 1 ? new Error('EIO: write failed') : o));
    });
    const outcomes = await store.putMany(
      ['a', 'b', 'c'].map((n) => ({ path: `g/${n}.md`, body: Buffer.from(n), options: put })),
    );
    expect((outcomes[1] as Error).message).toContain('EIO');
    expect(await store.head('g/b.md')).toBeNull();
    expect((await store.get('g/a.md'))?.body.toString()).toBe('a');
    expect((await store.get('g/c.md'))?.body.toString()).toBe('c');
  });

  it("does not fsync under synchronous 'normal'", async () => {
    const normal = openFsContentStore({ dir: join(tmp.dir, 'normal'), synchronous: 'normal' });
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    await Promise.all([0, 1, 2].map((i) => normal.put(`a/${i}.md`, Buffer.from(`${i}`), put)));
    expect(sync).not.toHaveBeenCalled();
    await normal.close();
  });
});
