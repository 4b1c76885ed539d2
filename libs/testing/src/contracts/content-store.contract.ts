import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobProperties, ContentStore, PreconditionFailedError } from '@twinstore/application';

export interface ContentStoreContractSubject {
  subject: ContentStore;
  cleanup(): Promise<void>;
}

const MD = 'text/markdown; charset=utf-8';

async function collect(iterable: AsyncIterable<BlobProperties>): Promise<BlobProperties[]> {
  const out: BlobProperties[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/**
 * The behaviour every ContentStore must have (file system, Azure Blob, ...). Only port behaviour belongs here;
 * adapter-specific checks live in the adapter's own spec. Metadata keys are lower-case identifiers because
 * some backends normalise keys.
 */
export function describeContentStoreContract(
  name: string,
  factory: () => Promise<ContentStoreContractSubject>,
): void {
  describe(`ContentStore contract: ${name}`, () => {
    let store: ContentStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const made = await factory();
      store = made.subject;
      cleanup = made.cleanup;
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('round trips', () => {
      it('get returns the exact bytes and the properties of the put', async () => {
        const body = Buffer.concat([
          Buffer.from('# Persona\r\nLikes ☕ and 🚀\r\n\r\nline\n', 'utf8'),
          randomBytes(64),
        ]);
        const before = Date.now();
        const { etag } = await store.put('digital-twins/2026/11/28/lead-1.md', body, {
          contentType: MD,
          metadata: { version: '01JDZ0000000000000000000AA', sha256: 'abc' },
        });
        const after = Date.now();

        const got = await store.get('digital-twins/2026/11/28/lead-1.md');
        expect(got).not.toBeNull();
        expect(got!.body.equals(body)).toBe(true);
        expect(got!.properties).toMatchObject({
          path: 'digital-twins/2026/11/28/lead-1.md',
          etag,
          size: body.length,
          contentType: MD,
          metadata: { version: '01JDZ0000000000000000000AA', sha256: 'abc' },
          tier: 'hot',
        });
        expect(got!.properties.lastModified).toBeInstanceOf(Date);
        // Some backends keep lastModified to the second.
        expect(got!.properties.lastModified.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(got!.properties.lastModified.getTime()).toBeLessThanOrEqual(after + 2000);
      });

      it('head returns the same properties as get, without the body', async () => {
        const body = Buffer.from('{"a":1}');
        await store.put('digital-twins/metadata/lead-2.json', body, {
          contentType: 'application/json',
          metadata: { version: 'v1' },
        });
        const head = await store.head('digital-twins/metadata/lead-2.json');
        const got = await store.get('digital-twins/metadata/lead-2.json');
        expect(head).toEqual(got!.properties);
        expect(head).not.toHaveProperty('body');
      });

      it('get and head of a missing blob are null', async () => {
        expect(await store.get('digital-twins/2026/01/01/nobody.md')).toBeNull();
        expect(await store.head('digital-twins/2026/01/01/nobody.md')).toBeNull();
      });

      it('keeps an empty body and a large binary body byte for byte', async () => {
        const large = randomBytes(2 * 1024 * 1024 + 7);
        await store.put('x/empty.bin', Buffer.alloc(0), { contentType: 'application/octet-stream' });
        await store.put('x/large.bin', large, { contentType: 'application/octet-stream' });
        const empty = await store.get('x/empty.bin');
        expect(empty!.body.length).toBe(0);
        expect(empty!.properties.size).toBe(0);
        expect(empty!.properties.metadata).toEqual({});
        const got = await store.get('x/large.bin');
        expect(got!.properties.size).toBe(large.length);
        expect(createHash('sha256').update(got!.body).digest('hex')).toBe(
          createHash('sha256').update(large).digest('hex'),
        );
      });

      it('identical bodies under different paths are independent blobs', async () => {
        const body = Buffer.from('same bytes');
        const a = await store.put('dup/a.md', body, { contentType: MD });
        const b = await store.put('dup/b.md', body, { contentType: MD });
        expect(a.etag).not.toBe(b.etag);
        expect(await store.delete('dup/a.md')).toBe(true);
        expect((await store.get('dup/b.md'))!.body.equals(body)).toBe(true);
      });
    });

    describe('conditional writes', () => {
      it('an unconditional put replaces the blob with a new etag and new properties', async () => {
        const first = await store.put('c/a.md', Buffer.from('one'), {
          contentType: MD,
          metadata: { version: '1' },
        });
        const second = await store.put('c/a.md', Buffer.from('two'), {
          contentType: 'text/plain',
          metadata: { other: 'x' },
        });
        expect(second.etag).not.toBe(first.etag);
        const got = await store.get('c/a.md');
        expect(got!.body.toString()).toBe('two');
        expect(got!.properties.etag).toBe(second.etag);
        expect(got!.properties.contentType).toBe('text/plain');
        expect(got!.properties.metadata).toEqual({ other: 'x' });
      });

      it('rewriting the same bytes still issues a new etag', async () => {
        const first = await store.put('c/same.md', Buffer.from('same'), { contentType: MD });
        const second = await store.put('c/same.md', Buffer.from('same'), { contentType: MD });
        expect(second.etag).not.toBe(first.etag);
      });

      it('ifNoneMatch "*" creates a missing blob and refuses to replace an existing one', async () => {
        const { etag } = await store.put('c/new.md', Buffer.from('first'), {
          contentType: MD,
          ifNoneMatch: '*',
        });
        const error = await rejection(
          store.put('c/new.md', Buffer.from('second'), { contentType: MD, ifNoneMatch: '*' }),
        );
        expect(error).toBeInstanceOf(PreconditionFailedError);
        expect((error as PreconditionFailedError).path).toBe('c/new.md');
        const got = await store.get('c/new.md');
        expect(got!.body.toString()).toBe('first');
        expect(got!.properties.etag).toBe(etag);
      });

      it('ifMatch writes over the matching etag only', async () => {
        const v1 = await store.put('c/m.md', Buffer.from('v1'), { contentType: MD });
        const v2 = await store.put('c/m.md', Buffer.from('v2'), { contentType: MD, ifMatch: v1.etag });
        expect(v2.etag).not.toBe(v1.etag);

        const stale = await rejection(
          store.put('c/m.md', Buffer.from('v3'), { contentType: MD, ifMatch: v1.etag }),
        );
        expect(stale).toBeInstanceOf(PreconditionFailedError);
        const got = await store.get('c/m.md');
        expect(got!.body.toString()).toBe('v2');
        expect(got!.properties.etag).toBe(v2.etag);
      });

      it('ifMatch on a missing blob fails and creates nothing', async () => {
        const error = await rejection(
          store.put('c/missing.md', Buffer.from('x'), { contentType: MD, ifMatch: '"0x1234"' }),
        );
        expect(error).toBeInstanceOf(PreconditionFailedError);
        expect(await store.head('c/missing.md')).toBeNull();
      });

      it('of concurrent creates with ifNoneMatch "*", exactly one wins', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.put('c/race.md', Buffer.from(`writer ${i}`), { contentType: MD, ifNoneMatch: '*' }),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost.every((r) => r.reason instanceof PreconditionFailedError)).toBe(true);
        const got = await store.get('c/race.md');
        expect(got!.properties.etag).toBe((won[0] as PromiseFulfilledResult<{ etag: string }>).value.etag);
      });

      it('concurrent read-modify-write loops on ifMatch lose no update', async () => {
        await store.put('c/counter.json', Buffer.from('0'), { contentType: 'application/json' });
        const increment = async () => {
          for (;;) {
            const current = await store.get('c/counter.json');
            const next = Number(current!.body.toString()) + 1;
            try {
              await store.put('c/counter.json', Buffer.from(String(next)), {
                contentType: 'application/json',
                ifMatch: current!.properties.etag,
              });
              return;
            } catch (e) {
              if (!(e instanceof PreconditionFailedError)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 12 }, increment));
        expect((await store.get('c/counter.json'))!.body.toString()).toBe('12');
      });
    });

    describe('delete', () => {
      it('removes the blob: true the first time, false afterwards', async () => {
        await store.put('d/a.md', Buffer.from('a'), { contentType: MD });
        expect(await store.delete('d/a.md')).toBe(true);
        expect(await store.get('d/a.md')).toBeNull();
        expect(await store.head('d/a.md')).toBeNull();
        expect(await collect(store.list('d/'))).toEqual([]);
        expect(await store.delete('d/a.md')).toBe(false);
      });

      it('is false for a blob that never existed, with or without ifMatch', async () => {
        expect(await store.delete('d/never.md')).toBe(false);
        expect(await store.delete('d/never.md', { ifMatch: '"0x1"' })).toBe(false);
      });

      it('with a stale ifMatch throws and keeps the blob; with the current one it deletes', async () => {
        const v1 = await store.put('d/b.md', Buffer.from('1'), { contentType: MD });
        const v2 = await store.put('d/b.md', Buffer.from('2'), { contentType: MD });
        const error = await rejection(store.delete('d/b.md', { ifMatch: v1.etag }));
        expect(error).toBeInstanceOf(PreconditionFailedError);
        expect((await store.get('d/b.md'))!.body.toString()).toBe('2');
        expect(await store.delete('d/b.md', { ifMatch: v2.etag })).toBe(true);
        expect(await store.head('d/b.md')).toBeNull();
      });

      it('a deleted path can be created again, also with ifNoneMatch "*"', async () => {
        await store.put('d/c.md', Buffer.from('old'), { contentType: MD });
        await store.delete('d/c.md');
        await store.put('d/c.md', Buffer.from('new'), { contentType: MD, ifNoneMatch: '*' });
        expect((await store.get('d/c.md'))!.body.toString()).toBe('new');
      });
    });

    describe('list', () => {
      const paths = [
        'a/b/2',
        'a/b/10',
        'a/b/1',
        'a/b-c/x',
        'a/b.x',
        'a/bc/x',
        'a/B/x',
        'a/b/sub/deep.md',
        'b/x',
        'ab',
      ];

      beforeEach(async () => {
        for (const p of paths) await store.put(p, Buffer.from(p), { contentType: 'text/plain' });
      });

      it('yields the blobs under a folder prefix in path order', async () => {
        const listed = await collect(store.list('a/b/'));
        expect(listed.map((p) => p.path)).toEqual(['a/b/1', 'a/b/10', 'a/b/2', 'a/b/sub/deep.md']);
      });

      it('treats the prefix as a string prefix, not as a folder', async () => {
        const listed = await collect(store.list('a/b'));
        expect(listed.map((p) => p.path)).toEqual(
          ['a/b-c/x', 'a/b.x', 'a/b/1', 'a/b/10', 'a/b/2', 'a/b/sub/deep.md', 'a/bc/x'].sort(),
        );
      });

      it('lists everything for an empty prefix and nothing for an unknown one', async () => {
        expect((await collect(store.list(''))).map((p) => p.path)).toEqual([...paths].sort());
        expect(await collect(store.list('zzz/'))).toEqual([]);
      });

      it('yields the current properties of each blob', async () => {
        const { etag } = await store.put('a/b/1', Buffer.from('changed!'), {
          contentType: MD,
          metadata: { version: '2' },
        });
        await store.delete('a/b/10');
        const listed = await collect(store.list('a/b/'));
        expect(listed.map((p) => p.path)).toEqual(['a/b/1', 'a/b/2', 'a/b/sub/deep.md']);
        expect(listed[0]).toEqual(await store.head('a/b/1'));
        expect(listed[0]).toMatchObject({ etag, size: 8, contentType: MD, metadata: { version: '2' } });
      });
    });

    it('lists a few hundred blobs, each once, in order', async () => {
      const count = 250;
      const names = Array.from({ length: count }, (_, i) => `many/${String(i).padStart(5, '0')}.md`);
      await inParallel(names, 16, async (p) => {
        await store.put(p, Buffer.from(p), { contentType: MD });
      });
      await store.put('many-other/x.md', Buffer.from('x'), { contentType: MD });
      const listed = (await collect(store.list('many/'))).map((p) => p.path);
      expect(listed).toEqual(names);
    });

    describe('putMany (when the store offers it)', () => {
      it('writes every item with its own condition and outcome, in order', async () => {
        if (!store.putMany) return;
        const { etag: oldEtag } = await store.put('pm/replace.md', Buffer.from('old'), { contentType: MD });
        await store.put('pm/taken.md', Buffer.from('taken'), { contentType: MD });
        const outcomes = await store.putMany([
          { path: 'pm/new.md', body: Buffer.from('new'), options: { contentType: MD, ifNoneMatch: '*' } },
          { path: 'pm/taken.md', body: Buffer.from('x'), options: { contentType: MD, ifNoneMatch: '*' } },
          {
            path: 'pm/replace.md',
            body: Buffer.from('newer'),
            options: { contentType: MD, ifMatch: oldEtag },
          },
          { path: 'pm/stale.md', body: Buffer.from('x'), options: { contentType: MD, ifMatch: oldEtag } },
          {
            path: 'pm/plain.md',
            body: Buffer.from('plain'),
            options: { contentType: MD, metadata: { v: '1' } },
          },
        ]);
        expect(outcomes[1]).toBeInstanceOf(PreconditionFailedError);
        expect(outcomes[3]).toBeInstanceOf(PreconditionFailedError);
        for (const [i, path, body] of [
          [0, 'pm/new.md', 'new'],
          [2, 'pm/replace.md', 'newer'],
          [4, 'pm/plain.md', 'plain'],
        ] as const) {
          const got = await store.get(path);
          expect(got?.body.toString()).toBe(body);
          expect(outcomes[i]).toEqual({ etag: got?.properties.etag });
        }
        expect((await store.get('pm/plain.md'))?.properties.metadata).toEqual({ v: '1' });
        expect((await store.get('pm/taken.md'))?.body.toString()).toBe('taken');
        expect(await store.head('pm/stale.md')).toBeNull();
      });

      it('writes a group of a hundred', async () => {
        if (!store.putMany) return;
        const items = Array.from({ length: 100 }, (_, i) => ({
          path: `pm/many/${String(i).padStart(3, '0')}.md`,
          body: Buffer.from(`# twin ${i}`),
          options: { contentType: MD, ifNoneMatch: '*' as const },
        }));
        const outcomes = await store.putMany(items);
        expect(outcomes.filter((o) => o instanceof Error)).toEqual([]);
        expect((await collect(store.list('pm/many/'))).map((p) => p.path)).toEqual(items.map((i) => i.path));
      });
    });
  });
}
