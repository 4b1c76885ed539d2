import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerName, RunningSubscription } from '@twinstore/application';
import { createRuntime, loadConfig, startConsumer, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { RunningIngestApi, startIngestApi } from './ingest-api';
import { testApiKey, withApiKey } from './testing/api-keys';
import {
  CONTRACT_BATCH_MAX,
  CONTRACT_BODY_LIMIT,
  describeIngestApiContract,
  IngestApiHarness,
} from './testing/ingest-api.contract';

const PROJECTIONS: ConsumerName[] = ['writer', 'indexer'];

interface EmbeddedApi extends IngestApiHarness {
  api: RunningIngestApi;
}

/** The real embedded runtime in a temp directory, with the writer and indexer consuming in-process. */
async function startEmbedded(): Promise<EmbeddedApi> {
  const tmp: TempDir = await makeTempDir('ingest-api-int');
  const config = loadConfig({
    TWINS_DATA_DIR: tmp.dir,
    TWINS_PORT: '0',
    TWINS_BODY_LIMIT_BYTES: String(CONTRACT_BODY_LIMIT),
    TWINS_BATCH_MAX_ITEMS: String(CONTRACT_BATCH_MAX),
    TWINS_LOG_LEVEL: 'silent',
    TWINS_ACCESS_FLUSH_MS: '0',
  });
  const runtime: TwinsRuntime = await createRuntime(config, { service: 'ingest-api-int' });
  const subscriptions: RunningSubscription[] = PROJECTIONS.map((name) => startConsumer(runtime, name));
  const api = await startIngestApi(runtime, { logger: false });
  const fastify = api.app.getHttpAdapter().getInstance();
  const apiKey = await testApiKey(runtime.apiKeys);
  return {
    api,
    runtime,
    url: api.url,
    apiKey,
    inject: withApiKey((options) => fastify.inject(options), apiKey),
    async snapshot() {
      const blobs: string[] = [];
      for await (const blob of runtime.content.list('')) blobs.push(`${blob.path}@${blob.etag}`);
      return { blobs, catalog: await runtime.catalog.count(), indexed: await runtime.search.count() };
    },
    async settle() {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const stats = await runtime.busAdmin.stats();
        const pending = stats.filter((s) => PROJECTIONS.includes(s.subscription as ConsumerName));
        if (pending.every((s) => s.active === 0)) return;
        if (Date.now() > deadline) throw new Error(`projections did not catch up: ${JSON.stringify(stats)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await api.close();
      await Promise.all(subscriptions.map((s) => s.close(5_000)));
      await runtime.close();
      await tmp.cleanup();
    },
  };
}

describeIngestApiContract('ingest API over the embedded runtime', startEmbedded);

describe('ingest API over the embedded runtime: search and erasure reach the real index', () => {
  let h: EmbeddedApi;
  beforeAll(async () => {
    h = await startEmbedded();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('finds a saved twin by text and metadata, with highlights and facets, and forgets it on DELETE', async () => {
    const leadId = `search-${randomUUID()}`;
    const word = `zeppelin${randomUUID().slice(0, 8)}`;
    const put = await h.inject({
      method: 'PUT',
      url: `/v1/twins/${leadId}`,
      headers: { 'content-type': 'text/markdown' },
      payload: `---\nage: 44\nincome: 61000\nclassification: hot\nlocation: Lisbon\ntags: [sailing]\n---\n# Rita\n\nFlies a ${word} on Sundays.\n`,
    });
    expect(put.statusCode).toBe(202);
    await h.settle();

    const res = await h.inject({
      method: 'GET',
      url: `/v1/search?q=${word}&classification=hot&minAge=40&maxIncome=70000&location=lisbon&tags=sailing&facets=classification,tags`,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      total: number;
      hits: { leadId: string; highlights: string[]; age?: number; tags: string[] }[];
      facets: Record<string, { value: string; count: number }[]>;
    }>();
    expect(body.total).toBe(1);
    expect(body.hits[0]).toMatchObject({ leadId, age: 44, tags: ['sailing'] });
    expect(body.hits[0].highlights.join(' ')).toContain(`<em>${word}</em>`);
    expect(body.facets.classification).toEqual([{ value: 'hot', count: 1 }]);

    const miss = await h.inject({ method: 'GET', url: `/v1/search?q=${word}&minAge=45` });
    expect(miss.json<{ total: number }>().total).toBe(0);

    expect((await h.inject({ method: 'DELETE', url: `/v1/twins/${leadId}` })).statusCode).toBe(202);
    await h.settle();
    const gone = await h.inject({ method: 'GET', url: `/v1/search?q=${word}` });
    expect(gone.json<{ total: number }>().total).toBe(0);
  });
});
