import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsContentStore } from '@twinstore/adapters-embedded';
import { documentFromJson } from '@twinstore/domain';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { loadConfig } from './config';
import { createHandler } from './consumers';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';

/** The read path on the embedded runtime: read-your-writes, storage tier, cache outages. */
describe('reading twins', () => {
  let tmp: TempDir;
  let runtime: TwinsRuntime;

  beforeEach(async () => {
    tmp = await makeTempDir('twins-read-');
    runtime = await createRuntime(loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_ACCESS_FLUSH_MS: '0' }), {
      service: 'test',
      logger: pino({ level: 'silent' }),
    });
  });
  afterEach(async () => {
    await runtime.close();
    await tmp.cleanup();
  });

  const save = (leadId: string, markdown: string, classification: 'hot' | 'warm' | 'cold' = 'hot') =>
    runtime.useCases.save.execute({
      leadId,
      document: documentFromJson({ markdown, metadata: { classification } }),
    });

  // No consumer runs in these tests unless drain() says so: the writer lags for as long as a test wants.
  it('reads its own write, content, metadata and versions, before any projection has caught up', async () => {
    const saved = await save('ryw', '# first\r\n');
    const twin = await runtime.useCases.get.execute('ryw');
    expect(twin.version).toBe(saved.version);
    expect(twin.markdown.toString()).toBe('# first\r\n');
    expect(await runtime.useCases.metadata.metadata('ryw')).toMatchObject({
      leadId: 'ryw',
      version: saved.version,
      blobPath: saved.blobPath,
      size: 9,
      metadata: { classification: 'hot' },
    });
    expect(await runtime.useCases.metadata.versions('ryw')).toEqual([
      expect.objectContaining({ version: saved.version, blobPath: saved.blobPath, size: 9 }),
    ]);
    // The explicit form still works, and asks for no less than it names.
    expect((await runtime.useCases.get.execute('ryw', { minVersion: saved.version })).version).toBe(
      saved.version,
    );
  });

  it('answers a version newer than what the catalog, the pointer and the cache hold', async () => {
    const first = await save('ryw-newer', 'one', 'hot');
    await drain('writer');
    expect(await runtime.useCases.get.execute('ryw-newer')).toMatchObject({ version: first.version });
    expect((await runtime.useCases.get.execute('ryw-newer')).source).toBe('cache');
    const second = await save('ryw-newer', 'two', 'hot');
    const twin = await runtime.useCases.get.execute('ryw-newer');
    expect(twin).toMatchObject({ version: second.version, source: 'store' });
    expect(twin.markdown.toString()).toBe('two');
    expect((await runtime.useCases.metadata.metadata('ryw-newer')).version).toBe(second.version);
    // Both saves fall on today's day-blob: one entry, the newer version.
    expect((await runtime.useCases.metadata.versions('ryw-newer')).map((v) => v.version)).toEqual([
      second.version,
    ]);
    await drain('writer');
    expect((await runtime.useCases.metadata.metadata('ryw-newer')).version).toBe(second.version);
  });

  it('never answers an erased twin: PUT then DELETE is a 404 although the save was noted moments ago', async () => {
    const saved = await save('ryw-erased', 'personal');
    await runtime.useCases.delete.execute('ryw-erased');
    expect(await runtime.recentWrites!.latest('ryw-erased')).toBeNull();
    const notFound = { code: 'TWIN.NOT_FOUND' };
    await expect(runtime.useCases.get.execute('ryw-erased')).rejects.toMatchObject(notFound);
    await expect(runtime.useCases.metadata.metadata('ryw-erased')).rejects.toMatchObject(notFound);
    await expect(runtime.useCases.metadata.versions('ryw-erased')).rejects.toMatchObject(notFound);
    // The save's note arriving only now (it raced the DELETE) changes nothing.
    await runtime.recentWrites!.note([
      {
        leadId: saved.leadId,
        version: saved.version,
        blobPath: saved.blobPath,
        contentHash: '0'.repeat(64),
        size: 8,
        savedAt: new Date().toISOString(),
        metadata: { classification: 'hot', tags: [], extra: {} },
      },
    ]);
    await expect(runtime.useCases.get.execute('ryw-erased')).rejects.toMatchObject(notFound);
    await expect(runtime.useCases.metadata.metadata('ryw-erased')).rejects.toMatchObject(notFound);
    // Once the writer has projected both events, still nothing.
    await drain('writer');
    await expect(runtime.useCases.get.execute('ryw-erased')).rejects.toMatchObject(notFound);
    await expect(runtime.useCases.metadata.metadata('ryw-erased')).rejects.toMatchObject(notFound);
  });

  it('a save after a DELETE is read back at once', async () => {
    await save('ryw-again', 'before');
    await runtime.useCases.delete.execute('ryw-again');
    const again = await save('ryw-again', 'after');
    const twin = await runtime.useCases.get.execute('ryw-again');
    expect(twin.version).toBe(again.version);
    expect(twin.markdown.toString()).toBe('after');
    expect((await runtime.useCases.metadata.metadata('ryw-again')).version).toBe(again.version);
  });

  it('serves the catalog version once the writer ran, then from the cache that read filled', async () => {
    const { version } = await save('warm-path', 'hello', 'hot');
    const stats = await runtime.busAdmin.stats();
    expect(stats.find((s) => s.subscription === 'writer')?.active).toBe(1);
    const [event] = await drain('writer');
    expect(event).toBe('done');
    const fromStore = await runtime.useCases.get.execute('warm-path');
    expect(fromStore).toMatchObject({ version, source: 'store', tier: 'hot' });
    const fromCache = await runtime.useCases.get.execute('warm-path');
    expect(fromCache).toMatchObject({ version, source: 'cache' });
  });

  it('reports the storage tier of the blob it read', async () => {
    const { version, blobPath } = await save('cool-one', 'x', 'cold');
    await (runtime.content as FsContentStore).setTier(blobPath, 'cool');
    expect((await runtime.useCases.get.execute('cool-one', { minVersion: version })).tier).toBe('warm');
  });

  it('loads a missing twin once however many readers ask at the same moment (no stampede)', async () => {
    const { version } = await save('popular', 'everyone wants me', 'cold'); // cold: never cached
    await drain('writer');
    let reads = 0;
    const get = runtime.content.get.bind(runtime.content);
    runtime.content.get = (path) => {
      reads++;
      return get(path);
    };
    const twins = await Promise.all(
      Array.from({ length: 50 }, () => runtime.useCases.get.execute('popular')),
    );
    expect(twins.every((t) => t.version === version)).toBe(true);
    expect(reads).toBe(1);
  });

  it('still serves reads when the cache fails', async () => {
    const { version } = await save('no-cache', 'still here');
    await drain('writer');
    const broken = new Error('cache down');
    runtime.cache.get = () => Promise.reject(broken);
    runtime.cache.set = () => Promise.reject(broken);
    expect((await runtime.useCases.get.execute('no-cache')).version).toBe(version);
  });

  /** Deliver what is waiting on one subscription through its real handler. */
  async function drain(subscription: 'writer'): Promise<string[]> {
    const handler = createHandler(runtime, subscription);
    const outcomes: string[] = [];
    const sub = runtime.subscriber.subscribe(
      subscription,
      async (event, ctx) => {
        const o = await handler(event, ctx);
        outcomes.push(o.kind);
        return o;
      },
      { concurrency: 1, types: ['twin.saved.v1', 'twin.deleted.v1'] },
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const s = (await runtime.busAdmin.stats()).find((x) => x.subscription === subscription);
      if (s?.active === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await sub.close(5_000);
    return outcomes;
  }
});
