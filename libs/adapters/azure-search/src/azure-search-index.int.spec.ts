import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, request, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { AzureKeyCredential, SearchClient, SearchIndexClient } from '@azure/search-documents';
import { SearchDocument, SearchQuery } from '@twinstore/application';
import { DomainError, parseMetadata, TwinMetadataInput, Version } from '@twinstore/domain';
import { describeSearchIndexContract, SearchTestServer, startSearchTestServer } from '@twinstore/testing';
import {
  AZURE_SEARCH_FACET_LIMIT,
  AzureSearchIndex,
  AzureSearchIndexOptions,
  createAzureSearchIndex,
  MAX_INDEXED_MARKDOWN_CHARS,
} from './azure-search-index.adapter';
import { HIGHLIGHT_POST_TAG, HIGHLIGHT_PRE_TAG } from './highlight-html';
import { TwinIndexDocument, twinIndexDefinition } from './twin-index-definition';

let server: SearchTestServer;
let admin: SearchIndexClient;
let indexCounter = 0;

beforeAll(async () => {
  server = await startSearchTestServer();
  admin = new SearchIndexClient(server.endpoint, new AzureKeyCredential(server.apiKey), {
    allowInsecureConnection: true,
  });
});

afterAll(async () => {
  await server?.stop();
});

const connection = (
  indexName: string,
  extra: Partial<AzureSearchIndexOptions> = {},
): AzureSearchIndexOptions => ({
  endpoint: server.endpoint,
  apiKey: server.apiKey,
  indexName,
  allowInsecureConnection: true,
  ...extra,
});

describeSearchIndexContract('AzureSearchIndex (test server)', async () => {
  const indexName = `contract-${++indexCounter}`;
  const subject = createAzureSearchIndex(connection(indexName));
  await subject.ensureIndex();
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await admin.deleteIndex(indexName);
    },
  };
});

const v = (n: number) => `01HZZZZZZZ${String(n).padStart(16, '0')}` as Version;
const doc = (
  leadId: string,
  markdown: string,
  metadata: TwinMetadataInput = {},
  version = 1,
): SearchDocument => ({
  leadId,
  version: v(version),
  markdown,
  metadata: parseMetadata(metadata),
  savedAt: '2024-05-01T00:00:00.000Z',
});
const query = (q: Partial<SearchQuery> = {}): SearchQuery => ({ top: 20, skip: 0, facets: [], ...q });

describe('AzureSearchIndex (Azure specifics)', () => {
  let indexName: string;
  let index: AzureSearchIndex;
  let raw: SearchClient<TwinIndexDocument>;

  beforeEach(async () => {
    indexName = `specifics-${++indexCounter}`;
    index = createAzureSearchIndex(connection(indexName));
    await index.ensureIndex();
    raw = new SearchClient<TwinIndexDocument>(
      server.endpoint,
      indexName,
      new AzureKeyCredential(server.apiKey),
      {
        allowInsecureConnection: true,
      },
    );
    return async () => {
      await admin.deleteIndex(indexName);
    };
  });

  it('ensureIndex is idempotent and refuses to silently change an existing field', async () => {
    await index.ensureIndex();
    const other = `conflict-${++indexCounter}`;
    const definition = twinIndexDefinition(other);
    definition.fields = definition.fields.map((f) =>
      f.name === 'markdown' ? { ...f, analyzerName: 'standard.lucene' } : f,
    );
    await admin.createIndex(definition);
    await expect(createAzureSearchIndex(connection(other)).ensureIndex()).rejects.toMatchObject({
      statusCode: 400,
    });
    await admin.deleteIndex(other);
  });

  it('indexes and version-checks more leads than one request may carry', async () => {
    const docs = Array.from({ length: 2_300 }, (_, i) => doc(`bulk-${i}`, `Entry ${i} about kiwis.`));
    expect(await index.upsert(docs)).toEqual({ applied: 2_300, stale: 0 });
    expect(await index.count()).toBe(2_300);
    // The second pass must see all 2,300 versions (three lookups of at most 1000), so nothing is rewritten.
    expect(await index.upsert(docs)).toEqual({ applied: 0, stale: 2_300 });
    expect((await index.search(query({ q: 'kiwis', top: 1 }))).total).toBe(2_300);
  });

  it('sends one request per search, and one lookup plus one batch per 1000 leads on upsert', async () => {
    const proxy = await countingProxy(server.endpoint);
    try {
      const counted = createAzureSearchIndex({ ...connection(indexName), endpoint: proxy.endpoint });
      await counted.upsert(Array.from({ length: 2_300 }, (_, i) => doc(`lead-${i}`, 'Counting requests.')));
      expect(proxy.take()).toEqual({ 'search.post.search': 3, 'search.index': 3 });
      await counted.search(query({ q: 'counting', facets: ['tags'] }));
      await counted.search(query({ classification: ['warm'] }));
      await counted.count();
      await counted.version('lead-1');
      expect(proxy.take()).toEqual({ 'search.post.search': 4 });
    } finally {
      await proxy.stop();
    }
  });

  it('keeps a tombstone without content or personal fields, invisible to search and count', async () => {
    await index.upsert([
      doc('lead-1', 'Private notes about lobsters.', { age: 40, income: 9, location: 'Perth', tags: ['x'] }),
    ]);
    expect(await index.remove('lead-1', v(2))).toBe('applied');
    expect(await raw.getDocument('lead-1')).toEqual({
      leadId: 'lead-1',
      version: v(2),
      deleted: true,
      markdown: null,
      classification: null,
      age: null,
      income: null,
      location: null,
      locationKey: null,
      tags: [],
      savedAt: null,
    });
    expect(await raw.getDocumentsCount()).toBe(1);
    expect(await index.count()).toBe(0);
    expect((await index.search(query())).total).toBe(0);
    expect(await index.version('lead-1')).toBeNull();
  });

  it('remembers its own recent writes, so the service refresh lag cannot let an older version through', async () => {
    await index.upsert([doc('lead-1', 'Version three.', {}, 3)]);
    // Simulate a read that does not see the write yet: the index shows an older version than was written.
    await raw.uploadDocuments([{ ...(await raw.getDocument('lead-1')), version: v(1) }]);
    expect(await index.upsert([doc('lead-1', 'Version two.', {}, 2)])).toEqual({ applied: 0, stale: 1 });
    expect(await index.remove('lead-1', v(2))).toBe('stale');

    const forgetful = createAzureSearchIndex(connection(indexName, { recentWriteMemoryMs: 0 }));
    expect(await forgetful.upsert([doc('lead-1', 'Version two.', {}, 2)])).toEqual({ applied: 1, stale: 0 });
  });

  it('merges location spellings in the facet and caps each facet at the service default', async () => {
    const tags = Array.from({ length: 15 }, (_, i) => `tag-${String(i).padStart(2, '0')}`);
    await index.upsert([
      doc('a', 'x', { location: 'Sydney', tags }),
      doc('b', 'x', { location: 'sydney', tags: tags.slice(0, 3) }),
      doc('c', 'x', { location: 'SYDNEY ' }),
      doc('d', 'x', { location: 'Perth' }),
    ]);
    const result = await index.search(query({ facets: ['location', 'tags'] }));
    expect(result.facets.location).toEqual([
      { value: 'SYDNEY', count: 3 },
      { value: 'Perth', count: 1 },
    ]);
    expect(result.facets.tags).toHaveLength(AZURE_SEARCH_FACET_LIMIT);
    expect(result.facets.tags?.slice(0, 4)).toEqual([
      { value: 'tag-00', count: 2 },
      { value: 'tag-01', count: 2 },
      { value: 'tag-02', count: 2 },
      { value: 'tag-03', count: 1 },
    ]);
  });

  it('cannot be tricked by documents carrying the highlight marker characters', async () => {
    await index.upsert([
      doc('forger', `x ${HIGHLIGHT_PRE_TAG}<img src=x onerror=alert(1)>${HIGHLIGHT_POST_TAG} lobsters`),
    ]);
    const [hit] = (await index.search(query({ q: 'lobsters' }))).hits;
    const html = hit.highlights.join(' ');
    expect(html).toContain('<em>lobsters</em>');
    expect(html.replace(/<\/?em>/g, '')).not.toMatch(/[<>]/);
    expect(html.match(/<em>/g)).toHaveLength(1);
  });

  it('indexes the head of a very large document', async () => {
    const body = `walrus ${'filler '.repeat(MAX_INDEXED_MARKDOWN_CHARS / 7)} narwhal`;
    expect(await index.upsert([doc('huge', body)])).toEqual({ applied: 1, stale: 0 });
    expect((await index.search(query({ q: 'walrus' }))).total).toBe(1);
    expect((await index.search(query({ q: 'narwhal' }))).total).toBe(0);
  });

  it('refuses invalid leadIds before writing and answers null for them on read', async () => {
    await expect(index.upsert([doc('../etc', 'x')])).rejects.toBeInstanceOf(DomainError);
    await expect(index.remove('a,b', v(1))).rejects.toBeInstanceOf(DomainError);
    expect(await index.version("x' or true")).toBeNull();
    expect(await raw.getDocumentsCount()).toBe(0);
  });

  it('surfaces authentication failures', async () => {
    const wrong = createAzureSearchIndex(connection(indexName, { apiKey: 'not-the-key' }));
    await expect(wrong.count()).rejects.toMatchObject({ statusCode: 403 });
  });
});

/** Forwards to the test server and counts requests by their last path segment. */
async function countingProxy(target: string): Promise<{
  endpoint: string;
  take(): Record<string, number>;
  stop(): Promise<void>;
}> {
  let counts: Record<string, number> = {};
  const upstream = new URL(target);
  const proxy: Server = createServer((req, res) => {
    const operation = new URL(req.url ?? '/', target).pathname.split('/').pop() ?? '';
    counts[operation] = (counts[operation] ?? 0) + 1;
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    take: () => {
      const taken = counts;
      counts = {};
      return taken;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
