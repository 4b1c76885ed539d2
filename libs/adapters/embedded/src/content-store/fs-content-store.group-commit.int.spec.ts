import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeTempDir, pollUntil, TempDir } from '@twinstore/testing';
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
  vi.spyOn(ObjectFiles.prototype, 'ensure').mockImplementation(() => all.promise);
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

  it("does not fsync under synchronous 'normal'", async () => {
    const normal = openFsContentStore({ dir: join(tmp.dir, 'normal'), synchronous: 'normal' });
    const sync = vi.spyOn(WalSync.prototype, 'sync');
    await Promise.all([0, 1, 2].map((i) => normal.put(`a/${i}.md`, Buffer.from(`${i}`), put)));
    expect(sync).not.toHaveBeenCalled();
    await normal.close();
  });
});
