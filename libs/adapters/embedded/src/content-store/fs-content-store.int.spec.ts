import { createHash } from 'node:crypto';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlobProperties, PreconditionFailedError } from '@twinstore/application';
import {
  describeBlobTieringContract,
  describeContentStoreContract,
  makeTempDir,
  TempDir,
} from '@twinstore/testing';
import { FsContentStore, openFsContentStore } from './fs-content-store.adapter';
import { ObjectFiles } from './object-files';

describeContentStoreContract('FsContentStore', async () => {
  const tmp = await makeTempDir('fs-content-store');
  const subject = openFsContentStore({ dir: tmp.dir });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

describeBlobTieringContract('FsContentStore', async () => {
  const tmp = await makeTempDir('fs-tiering');
  const subject = openFsContentStore({ dir: tmp.dir });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

describeContentStoreContract('FsContentStore (synchronous normal)', async () => {
  const tmp = await makeTempDir('fs-content-store-normal');
  const subject = openFsContentStore({ dir: tmp.dir, synchronous: 'normal' });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

const MD = 'text/markdown; charset=utf-8';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function objectFiles(dir: string): string[] {
  const root = join(dir, 'objects');
  return readdirSync(root).flatMap((shard) =>
    readdirSync(join(root, shard)).map((f) => join(root, shard, f)),
  );
}

async function paths(store: FsContentStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const p of store.list(prefix)) out.push(p.path);
  return out;
}

describe('FsContentStore', () => {
  let tmp: TempDir;
  let store: FsContentStore;

  beforeEach(async () => {
    tmp = await makeTempDir('fs-content-store-adapter');
    store = openFsContentStore({ dir: tmp.dir });
  });
  afterEach(async () => {
    await store.close();
    await tmp.cleanup();
  });

  describe('bytes', () => {
    it.each([
      ['CRLF line endings', Buffer.from('a\r\nb\r\n\r\n', 'utf8')],
      ['lone CR and LF mix', Buffer.from('a\rb\nc\r\n', 'utf8')],
      ['emoji and combining marks', Buffer.from('👩🏽‍💻 café cafe\u0301 🇩🇪\n', 'utf8')],
      ['a UTF-8 BOM', Buffer.from('\uFEFF---\nage: 3\n---\n', 'utf8')],
      ['invalid UTF-8 and NUL bytes', Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0d, 0x0a])],
    ])('keeps %s byte for byte', async (_label, body) => {
      await store.put('bytes/doc.md', body, { contentType: MD });
      const got = await store.get('bytes/doc.md');
      expect(got!.body.equals(body)).toBe(true);
      expect(got!.properties.size).toBe(body.length);
    });

    it('stores the body in an object file named by its sha256', async () => {
      const body = Buffer.from('hash me');
      await store.put('bytes/h.md', body, { contentType: MD });
      const hex = sha256(body);
      expect(objectFiles(tmp.dir)).toEqual([join(tmp.dir, 'objects', hex.slice(0, 2), hex.slice(2))]);
    });

    it('refuses to serve an object whose bytes no longer match its hash', async () => {
      await store.put('bytes/rot.md', Buffer.from('original'), { contentType: MD });
      writeFileSync(objectFiles(tmp.dir)[0], 'bit rot!');
      await expect(store.get('bytes/rot.md')).rejects.toThrow(/corrupt/);
    });

    it('reports a missing object file instead of returning an empty body', async () => {
      await store.put('bytes/gone.md', Buffer.from('x'), { contentType: MD });
      const { unlinkSync } = await import('node:fs');
      unlinkSync(objectFiles(tmp.dir)[0]);
      await expect(store.get('bytes/gone.md')).rejects.toThrow(/missing/);
    });
  });

  describe('path validation', () => {
    const invalid = [
      '',
      '../x',
      'a/../b',
      '..',
      '.',
      'a/./b',
      'a//b',
      '/a',
      'a/',
      'a\\b',
      'a b',
      'a\0b',
      'ä/b',
      'a/%2e%2e/b',
      'C:/x',
      'x'.repeat(1025),
    ];

    it.each(invalid.map((p) => [JSON.stringify(p).slice(0, 40), p]))(
      'refuses %s everywhere',
      async (_label, path) => {
        const body = Buffer.from('x');
        await expect(store.put(path, body, { contentType: MD })).rejects.toThrow(/blob path/);
        await expect(store.get(path)).rejects.toThrow(/blob path/);
        await expect(store.head(path)).rejects.toThrow(/blob path/);
        await expect(store.delete(path)).rejects.toThrow(/blob path/);
        await expect(store.setTier(path, 'cool')).rejects.toThrow(/blob path/);
        expect(store.stats()).toEqual({ blobs: 0, bytes: 0 });
        expect(objectFiles(tmp.dir)).toEqual([]);
      },
    );

    it('refuses list prefixes outside the path alphabet', async () => {
      await expect(paths(store, '../')).resolves.toEqual([]);
      await expect(paths(store, 'a b')).rejects.toThrow(/prefix/);
      await expect(paths(store, "a' OR 1=1 --")).rejects.toThrow(/prefix/);
      await expect(paths(store, '%')).rejects.toThrow(/prefix/);
    });

    it('accepts the longest path and dot-names that are not . or ..', async () => {
      const longest = `${'a'.repeat(511)}/${'b'.repeat(512)}`;
      for (const p of [longest, '.hidden', 'a/..b', 'a/b.', 'A-Z_0.9']) {
        await store.put(p, Buffer.from(p), { contentType: MD });
        expect((await store.get(p))!.body.toString()).toBe(p);
      }
    });

    it('rejects metadata values that are not strings', async () => {
      const metadata = { version: 1 } as unknown as Record<string, string>;
      await expect(store.put('m/a.md', Buffer.from('x'), { contentType: MD, metadata })).rejects.toThrow(
        /must be a string/,
      );
      expect(store.stats().blobs).toBe(0);
    });
  });

  describe('list paging', () => {
    it.each([6, 7, 8, 14, 15])('pages through %i blobs seven at a time, each once, in order', async (n) => {
      const paged = openFsContentStore({ dir: tmp.dir, listPageSize: 7 });
      try {
        const names = Array.from({ length: n }, (_, i) => `pg/${String(i).padStart(3, '0')}`);
        for (const p of [...names].reverse()) await paged.put(p, Buffer.from(p), { contentType: MD });
        await paged.put('pg0', Buffer.from('outside'), { contentType: MD });
        await paged.put('ph/x', Buffer.from('outside'), { contentType: MD });
        expect(await paths(paged, 'pg/')).toEqual(names);
      } finally {
        await paged.close();
      }
    });

    it('sees changes made between pages (keyset, no snapshot held open)', async () => {
      const paged = openFsContentStore({ dir: tmp.dir, listPageSize: 2 });
      try {
        for (const p of ['k/a', 'k/b', 'k/c', 'k/d']) await paged.put(p, Buffer.from(p), { contentType: MD });
        const seen: string[] = [];
        for await (const p of paged.list('k/')) {
          seen.push(p.path);
          if (p.path === 'k/b') {
            await store.delete('k/c');
            await store.put('k/e', Buffer.from('late'), { contentType: MD });
          }
        }
        expect(seen).toEqual(['k/a', 'k/b', 'k/d', 'k/e']);
      } finally {
        await paged.close();
      }
    });
  });

  describe('tiers and stats', () => {
    it('setTier changes the tier only; a new put resets it to hot', async () => {
      await store.put('t/a.md', Buffer.from('a'), { contentType: MD });
      const before = await store.head('t/a.md');
      expect(await store.setTier('t/a.md', 'archive')).toBe(true);
      const after = await store.head('t/a.md');
      expect(after).toEqual({ ...before, tier: 'archive' });
      const listed: BlobProperties[] = [];
      for await (const p of store.list('t/')) listed.push(p);
      expect(listed[0].tier).toBe('archive');
      await store.put('t/a.md', Buffer.from('b'), { contentType: MD });
      expect((await store.head('t/a.md'))!.tier).toBe('hot');
    });

    it('setTier is false for a missing blob and refuses unknown tiers', async () => {
      expect(await store.setTier('t/none.md', 'cool')).toBe(false);
      await store.put('t/a.md', Buffer.from('a'), { contentType: MD });
      await expect(store.setTier('t/a.md', 'glacier' as 'cool')).rejects.toThrow(/tier/);
      expect((await store.head('t/a.md'))!.tier).toBe('hot');
    });

    it('stats counts blobs and their logical bytes', async () => {
      expect(store.stats()).toEqual({ blobs: 0, bytes: 0 });
      await store.put('s/a', Buffer.alloc(10), { contentType: MD });
      await store.put('s/b', Buffer.alloc(10), { contentType: MD });
      await store.put('s/c', Buffer.alloc(7, 1), { contentType: MD });
      expect(store.stats()).toEqual({ blobs: 3, bytes: 27 });
      await store.delete('s/a');
      expect(store.stats()).toEqual({ blobs: 2, bytes: 17 });
    });
  });

  describe('object lifecycle', () => {
    it('shares one object between identical bodies and unlinks it with the last reference', async () => {
      const body = Buffer.from('shared');
      await store.put('o/a', body, { contentType: MD });
      await store.put('o/b', body, { contentType: MD });
      expect(objectFiles(tmp.dir)).toHaveLength(1);
      await store.delete('o/a');
      expect(objectFiles(tmp.dir)).toHaveLength(1);
      expect((await store.get('o/b'))!.body.equals(body)).toBe(true);
      await store.delete('o/b');
      expect(objectFiles(tmp.dir)).toEqual([]);
    });

    it('unlinks the replaced object on overwrite and the object of a refused put', async () => {
      const v1 = await store.put('o/a', Buffer.from('v1'), { contentType: MD });
      await store.put('o/a', Buffer.from('v2'), { contentType: MD, ifMatch: v1.etag });
      expect(objectFiles(tmp.dir)).toHaveLength(1);
      await expect(
        store.put('o/a', Buffer.from('v3'), { contentType: MD, ifMatch: v1.etag }),
      ).rejects.toBeInstanceOf(PreconditionFailedError);
      await expect(
        store.put('o/a', Buffer.from('v4'), { contentType: MD, ifNoneMatch: '*' }),
      ).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(objectFiles(tmp.dir)).toHaveLength(1);
      expect((await store.get('o/a'))!.body.toString()).toBe('v2');
    });

    it('ifMatch "*" means any existing blob', async () => {
      await expect(
        store.put('o/star', Buffer.from('x'), { contentType: MD, ifMatch: '*' }),
      ).rejects.toBeInstanceOf(PreconditionFailedError);
      await store.put('o/star', Buffer.from('1'), { contentType: MD });
      await store.put('o/star', Buffer.from('2'), { contentType: MD, ifMatch: '*' });
      expect((await store.get('o/star'))!.body.toString()).toBe('2');
      expect(await store.delete('o/star', { ifMatch: '*' })).toBe(true);
    });

    it('re-creates an object that was collected between its write and the commit', async () => {
      const body = Buffer.from('collected in between');
      await store.put('o/a', body, { contentType: MD });
      // The put finds the object present (so it writes nothing); then, before the put commits, the delete
      // of the last other reference unlinks the object.
      const ensureMany = ObjectFiles.prototype.ensureMany;
      const spy = vi.spyOn(ObjectFiles.prototype, 'ensureMany').mockImplementationOnce(async function (
        this: ObjectFiles,
        objects,
      ) {
        const outcomes = await ensureMany.call(this, objects);
        expect(objectFiles(tmp.dir)).toHaveLength(1);
        await store.delete('o/a');
        expect(objectFiles(tmp.dir)).toEqual([]);
        return outcomes;
      });
      await store.put('o/b', body, { contentType: MD });
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockRestore();
      expect((await store.get('o/b'))!.body.equals(body)).toBe(true);
      expect(objectFiles(tmp.dir)).toHaveLength(1);
    });

    it('collectGarbage removes orphan objects and stale temp files, and nothing in use', async () => {
      await store.put('g/kept', Buffer.from('kept'), { contentType: MD });
      const orphanHex = sha256(Buffer.from('orphan'));
      const orphan = join(tmp.dir, 'objects', orphanHex.slice(0, 2), orphanHex.slice(2));
      writeFileSync(orphan, 'orphan');
      const staleTmp = join(tmp.dir, 'tmp', 'dead-writer.tmp');
      const freshTmp = join(tmp.dir, 'tmp', 'live-writer.tmp');
      writeFileSync(staleTmp, 'partial');
      writeFileSync(freshTmp, 'partial');
      const hourAgo = new Date(Date.now() - 2 * 3_600_000);
      utimesSync(staleTmp, hourAgo, hourAgo);

      expect(await store.collectGarbage()).toEqual({ objects: 1, tempFiles: 1 });
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(staleTmp)).toBe(false);
      expect(existsSync(freshTmp)).toBe(true);
      expect((await store.get('g/kept'))!.body.toString()).toBe('kept');
      expect(await store.collectGarbage()).toEqual({ objects: 0, tempFiles: 0 });
    });

    it('close lets puts already accepted finish, then later calls fail', async () => {
      const puts = Array.from({ length: 5 }, (_, i) =>
        store.put(`p/closing-${i}.md`, Buffer.from(`body ${i}`), { contentType: MD }),
      );
      await store.close();
      await Promise.all(puts);
      await expect(store.head('p/closing-0.md')).rejects.toThrow(/not open/);
      store = openFsContentStore({ dir: tmp.dir });
      expect(await paths(store, 'p/')).toEqual([0, 1, 2, 3, 4].map((i) => `p/closing-${i}.md`));
    });

    it('refuses a list page size below one', () => {
      expect(() => openFsContentStore({ dir: tmp.dir, listPageSize: 0 })).toThrow(/listPageSize/);
    });

    it('keeps everything across close and reopen', async () => {
      const { etag } = await store.put('p/a.md', Buffer.from('durable'), {
        contentType: MD,
        metadata: { version: 'v9' },
      });
      await store.setTier('p/a.md', 'cool');
      await store.close();
      store = openFsContentStore({ dir: tmp.dir });
      const got = await store.get('p/a.md');
      expect(got!.body.toString()).toBe('durable');
      expect(got!.properties).toMatchObject({ etag, tier: 'cool', metadata: { version: 'v9' } });
    });
  });

  describe('two stores on one directory (like two processes)', () => {
    let other: FsContentStore;
    beforeEach(() => {
      other = openFsContentStore({ dir: tmp.dir });
    });
    afterEach(async () => {
      await other.close();
    });

    it('each sees the other’s writes at once', async () => {
      const { etag } = await store.put('two/a.md', Buffer.from('from one'), { contentType: MD });
      expect((await other.get('two/a.md'))!.properties.etag).toBe(etag);
      expect(await other.delete('two/a.md', { ifMatch: etag })).toBe(true);
      expect(await store.head('two/a.md')).toBeNull();
    });

    it('exactly one create wins across both', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? store : other).put('two/race.md', Buffer.from(`w${i}`), {
            contentType: MD,
            ifNoneMatch: '*',
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(
        results
          .filter((r) => r.status === 'rejected')
          .every((r) => (r as PromiseRejectedResult).reason instanceof PreconditionFailedError),
      ).toBe(true);
    });

    it('interleaved conditional increments from both lose no update', async () => {
      await store.put('two/counter', Buffer.from('0'), { contentType: 'text/plain' });
      let conflicts = 0;
      const worker = async (s: FsContentStore, times: number) => {
        for (let done = 0; done < times;) {
          const current = await s.get('two/counter');
          try {
            await s.put('two/counter', Buffer.from(String(Number(current!.body.toString()) + 1)), {
              contentType: 'text/plain',
              ifMatch: current!.properties.etag,
            });
            done++;
          } catch (e) {
            if (!(e instanceof PreconditionFailedError)) throw e;
            conflicts++;
          }
        }
      };
      await Promise.all([worker(store, 25), worker(other, 25), worker(store, 25), worker(other, 25)]);
      expect((await other.get('two/counter'))!.body.toString()).toBe('100');
      expect(conflicts).toBeGreaterThan(0);
      expect(objectFiles(tmp.dir)).toHaveLength(1);
    });

    it('puts and deletes of the same bytes from both never lose an object', async () => {
      const body = Buffer.from('identical content everywhere');
      for (let i = 0; i < 100; i++) {
        await Promise.all([
          store.put(`two/same/${i}`, body, { contentType: MD }),
          other.delete(`two/same/${i - 1}`),
          other.put(`two/same-b/${i}`, body, { contentType: MD }),
          store.delete(`two/same-b/${i - 1}`),
        ]);
        expect((await other.get(`two/same/${i}`))!.body.equals(body)).toBe(true);
        expect((await store.get(`two/same-b/${i}`))!.body.equals(body)).toBe(true);
      }
      expect(await paths(store, 'two/')).toEqual(['two/same-b/99', 'two/same/99']);
      expect(objectFiles(tmp.dir)).toHaveLength(1);
      expect(await store.collectGarbage()).toEqual({ objects: 0, tempFiles: 0 });
    });
  });
});
