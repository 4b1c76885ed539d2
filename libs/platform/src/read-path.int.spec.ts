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

  it('reads its own write with minVersion before any projection has caught up', async () => {
    const { version } = await save('ryw', '# first\r\n');
    await expect(runtime.useCases.get.execute('ryw')).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
    const twin = await runtime.useCases.get.execute('ryw', { minVersion: version });
    expect(twin.version).toBe(version);
    expect(twin.markdown.toString()).toBe('# first\r\n');
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
