import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AzureKeyCredential,
  IndexDocumentsBatch,
  SearchClient,
  SearchIndex,
  SearchIndexClient,
  SearchOptions,
} from '@azure/search-documents';
import { SearchTestServer, startSearchTestServer } from './search-test-server';

interface Person {
  id: string;
  name?: string | null;
  bio?: string | null;
  city?: string | null;
  age?: number | null;
  score?: number | null;
  tags?: string[] | null;
  joined?: string | null;
  vip?: boolean | null;
}

const definition = (name: string): SearchIndex => ({
  name,
  fields: [
    { name: 'id', type: 'Edm.String', key: true, filterable: true, sortable: true },
    { name: 'name', type: 'Edm.String', filterable: true, sortable: true },
    { name: 'bio', type: 'Edm.String', searchable: true, analyzerName: 'en.lucene' },
    { name: 'city', type: 'Edm.String', filterable: true, facetable: true },
    { name: 'age', type: 'Edm.Int32', filterable: true, sortable: true, facetable: true },
    { name: 'score', type: 'Edm.Double', filterable: true, sortable: true },
    { name: 'tags', type: 'Collection(Edm.String)', filterable: true, facetable: true },
    { name: 'joined', type: 'Edm.DateTimeOffset', filterable: true, sortable: true },
    { name: 'vip', type: 'Edm.Boolean', filterable: true },
  ],
});

const PEOPLE: Person[] = [
  {
    id: 'ava',
    name: 'Ava',
    bio: 'Ava grows tomatoes and keeps bees in her garden.',
    city: 'Sydney',
    age: 30,
    score: 4.5,
    tags: ['garden', 'bees'],
    joined: '2024-01-01T00:00:00Z',
    vip: true,
  },
  {
    id: 'ben',
    name: 'Ben',
    bio: 'Ben sails a small boat and fishes on weekends.',
    city: 'Perth',
    age: 45,
    score: 3,
    tags: ['boat'],
    joined: '2024-02-01T00:00:00Z',
    vip: false,
  },
  {
    id: 'cara',
    name: 'Cara',
    bio: 'Cara paints; her garden is full of roses. Roses, roses, roses!',
    city: 'Sydney',
    age: null,
    score: null,
    tags: ['garden', 'art'],
    joined: '2024-03-01T00:00:00Z',
    vip: null,
  },
  {
    id: 'dan',
    name: "D'Arcy",
    bio: 'Dan restores boats. He once sailed to Tasmania.',
    city: 'Hobart',
    age: 60,
    score: 5,
    tags: [],
    joined: null,
    vip: true,
  },
];

let server: SearchTestServer;
let admin: SearchIndexClient;
let counter = 0;
const credential = () => new AzureKeyCredential(server.apiKey);
const sdkOptions = { allowInsecureConnection: true };

beforeAll(async () => {
  server = await startSearchTestServer();
  admin = new SearchIndexClient(server.endpoint, credential(), sdkOptions);
});

afterAll(async () => {
  await server?.stop();
});

async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode;
  }
}

async function freshIndex(): Promise<SearchClient<Person>> {
  const name = `people-${++counter}`;
  await admin.createIndex(definition(name));
  return new SearchClient<Person>(server.endpoint, name, credential(), sdkOptions);
}

async function ids(client: SearchClient<Person>, text: string, options: SearchOptions<Person> = {}) {
  const response = await client.search(text, { ...options, select: ['id'] });
  const out: string[] = [];
  for await (const result of response.results) out.push(result.document.id);
  return out;
}

describe('search test server: index management', () => {
  it('creates, reads, extends, refuses incompatible changes, and deletes an index', async () => {
    const name = `mgmt-${++counter}`;
    const created = await admin.createIndex(definition(name));
    expect(created.fields.find((f) => f.name === 'bio')).toMatchObject({
      searchable: true,
      analyzerName: 'en.lucene',
    });
    expect(await statusOf(admin.createIndex(definition(name)))).toBe(409);

    const read = await admin.getIndex(name);
    expect(read.fields.map((f) => f.name)).toContain('tags');

    const extended = definition(name);
    extended.fields.push({ name: 'nickname', type: 'Edm.String', filterable: true });
    const updated = await admin.createOrUpdateIndex(extended);
    expect(updated.fields.map((f) => f.name)).toContain('nickname');
    await admin.createOrUpdateIndex(extended); // idempotent

    const changed = definition(name);
    changed.fields = changed.fields.map((f) => (f.name === 'city' ? { ...f, facetable: false } : f));
    expect(await statusOf(admin.createOrUpdateIndex(changed))).toBe(400);
    expect(await statusOf(admin.createOrUpdateIndex(definition(name)))).toBe(400); // would drop 'nickname'

    const names: string[] = [];
    for await (const index of admin.listIndexes()) names.push(index.name);
    expect(names).toContain(name);

    await admin.deleteIndex(name);
    expect(await statusOf(admin.getIndex(name))).toBe(404);
  });

  it('creates with createOrUpdate (PUT) when the index does not exist', async () => {
    const name = `put-${++counter}`;
    await admin.createOrUpdateIndex(definition(name));
    expect((await admin.getIndex(name)).name).toBe(name);
  });

  it('refuses invalid definitions', async () => {
    expect(await statusOf(admin.createIndex({ ...definition('x'), name: 'Upper_Case' }))).toBe(400);
    const noKey = definition(`nokey-${++counter}`);
    noKey.fields = noKey.fields.map((f) => ({ ...f, key: false }));
    expect(await statusOf(admin.createIndex(noKey))).toBe(400);
    const sortableCollection = definition(`sc-${++counter}`);
    sortableCollection.fields.push({ name: 'more', type: 'Collection(Edm.String)', sortable: true });
    expect(await statusOf(admin.createIndex(sortableCollection))).toBe(400);
    const searchableNumber = definition(`sn-${++counter}`);
    searchableNumber.fields.push({ name: 'n', type: 'Edm.Int32', searchable: true });
    expect(await statusOf(admin.createIndex(searchableNumber))).toBe(400);
  });
});

describe('search test server: authentication and protocol', () => {
  it('answers 403 to a wrong key and 401 to no key', async () => {
    const wrong = new SearchIndexClient(server.endpoint, new AzureKeyCredential('wrong'), sdkOptions);
    expect(await statusOf(wrong.getIndex('anything'))).toBe(403);
    const response = await fetch(`${server.endpoint}/indexes?api-version=2026-04-01`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('requires an api-version and speaks the service error shape', async () => {
    const headers = { 'api-key': server.apiKey };
    const missing = await fetch(`${server.endpoint}/indexes`, { headers });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
    const unknown = await fetch(`${server.endpoint}/indexes('nope')?api-version=2026-04-01`, { headers });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain('nope');
  });

  it('accepts the alternative /indexes/{name}/docs URL form', async () => {
    const client = await freshIndex();
    await client.uploadDocuments(PEOPLE);
    const response = await fetch(
      `${server.endpoint}/indexes/${client.indexName}/docs/search.post.search?api-version=2026-04-01`,
      {
        method: 'POST',
        headers: { 'api-key': server.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ search: 'roses', select: 'id' }),
      },
    );
    expect(((await response.json()) as { value: Person[] }).value.map((d) => d.id)).toEqual(['cara']);
  });
});

describe('search test server: documents', () => {
  let client: SearchClient<Person>;

  beforeEach(async () => {
    client = await freshIndex();
  });

  it('uploads, merges, merges-or-uploads and deletes, with a status per document', async () => {
    const uploaded = await client.uploadDocuments(PEOPLE);
    expect(uploaded.results.map((r) => [r.key, r.succeeded, r.statusCode])).toEqual([
      ['ava', true, 201],
      ['ben', true, 201],
      ['cara', true, 201],
      ['dan', true, 201],
    ]);
    expect(await client.getDocumentsCount()).toBe(4);

    await client.mergeDocuments([{ id: 'ava', age: 31 }]);
    expect(await client.getDocument('ava')).toMatchObject({
      id: 'ava',
      age: 31,
      name: 'Ava',
      tags: ['garden', 'bees'],
    });

    await client.mergeOrUploadDocuments([
      { id: 'ava', tags: ['solo'] },
      { id: 'eve', name: 'Eve' },
    ]);
    expect((await client.getDocument('ava')).tags).toEqual(['solo']);
    expect(await client.getDocument('eve')).toMatchObject({ id: 'eve', name: 'Eve', age: null, tags: null });

    // upload replaces the whole document: fields not given become null.
    await client.uploadDocuments([{ id: 'ava', name: 'Ava 2' }]);
    expect(await client.getDocument('ava')).toMatchObject({ name: 'Ava 2', age: null, bio: null });

    await client.deleteDocuments('id', ['eve', 'never-existed']);
    expect(await statusOf(client.getDocument('eve'))).toBe(404);
    expect(await client.getDocumentsCount()).toBe(4);
  });

  it('answers 207 with per-document errors for a merge of a missing document or an invalid key', async () => {
    const batch = new IndexDocumentsBatch<Person>();
    batch.upload([{ id: 'ok' }, { id: 'bad key!' }]);
    batch.merge([{ id: 'missing', name: 'x' }]);
    let status = 0;
    const result = await client.indexDocuments(batch, { onResponse: (r) => (status = r.status) });
    expect(status).toBe(207);
    expect(result.results.map((r) => [r.key, r.succeeded, r.statusCode])).toEqual([
      ['ok', true, 201],
      ['bad key!', false, 400],
      ['missing', false, 404],
    ]);
    expect(await statusOf(client.indexDocuments(batch, { throwOnAnyFailure: true }))).toBeUndefined();
    await expect(client.indexDocuments(batch, { throwOnAnyFailure: true })).rejects.toBeDefined();
  });

  it('refuses a whole batch with an unknown field, a wrong type or more than 1000 actions', async () => {
    expect(await statusOf(client.uploadDocuments([{ id: 'a', nope: 1 } as Person]))).toBe(400);
    expect(await statusOf(client.uploadDocuments([{ id: 'a', age: 1.5 }]))).toBe(400);
    expect(await statusOf(client.uploadDocuments([{ id: 'a', age: 2 ** 31 }]))).toBe(400);
    expect(await statusOf(client.uploadDocuments([{ id: 'a', joined: '2024-01-01' }]))).toBe(400);
    expect(await statusOf(client.uploadDocuments([{ id: 'a', tags: 'x' as unknown as string[] }]))).toBe(400);
    expect(await statusOf(client.uploadDocuments([{ name: 'no key' } as Person]))).toBe(400);
    const many = Array.from({ length: 1001 }, (_, i) => ({ id: `p${i}` }));
    expect(await statusOf(client.uploadDocuments(many))).toBe(413);
    expect(await client.getDocumentsCount()).toBe(0);
  });

  it('looks a document up, with $select', async () => {
    await client.uploadDocuments(PEOPLE);
    expect(await client.getDocument('dan')).toMatchObject({
      id: 'dan',
      name: "D'Arcy",
      tags: [],
      joined: null,
    });
    // Raw, because SDK 13 sends selectedFields as `%2524select` (double-encoded), which no server reads as $select.
    const lookup = (select: string) =>
      fetch(
        `${server.endpoint}/indexes('${client.indexName}')/docs('dan')?api-version=2026-04-01&$select=${select}`,
        {
          headers: { 'api-key': server.apiKey },
        },
      );
    const found = await lookup('name,age');
    expect(await found.json()).toEqual({ name: "D'Arcy", age: 60 });
    expect((await lookup('ghost')).status).toBe(400);
  });
});

describe('search test server: search', () => {
  let client: SearchClient<Person>;

  beforeEach(async () => {
    client = await freshIndex();
    await client.uploadDocuments(PEOPLE);
  });

  it('ranks by BM25: more occurrences in a shorter text score higher', async () => {
    const response = await client.search('roses garden', { select: ['id'] });
    const results: { id: string; score: number }[] = [];
    for await (const r of response.results) results.push({ id: r.document.id, score: r.score });
    expect(results.map((r) => r.id)).toEqual(['cara', 'ava']);
    expect(results[0].score).toBeGreaterThan(results[1].score);
  });

  it('searchMode any is OR, all is AND; "-" negates, with the service\'s OR surprise in any mode', async () => {
    expect((await ids(client, 'garden boat')).sort()).toEqual(['ava', 'ben', 'cara']);
    expect(await ids(client, 'garden bees', { searchMode: 'all' })).toEqual(['ava']);
    expect(await ids(client, 'garden -roses', { searchMode: 'all' })).toEqual(['ava']);
    expect((await ids(client, 'garden -roses', { searchMode: 'any' })).sort()).toEqual([
      'ava',
      'ben',
      'cara',
      'dan',
    ]);
    expect((await ids(client, 'bees | boat', { searchMode: 'all' })).sort()).toEqual(['ava', 'ben']);
    expect(await ids(client, 'garden +bees')).toEqual(['ava']);
  });

  it('matches phrases, prefixes, every document for * and nothing for stop words alone', async () => {
    expect(await ids(client, '"small boat"')).toEqual(['ben']);
    expect(await ids(client, '"boat small"')).toEqual([]);
    expect((await ids(client, 'sail*')).sort()).toEqual(['ben', 'dan']);
    expect(await ids(client, '*')).toHaveLength(4);
    expect(await ids(client, '')).toHaveLength(4);
    expect(await ids(client, 'the and')).toEqual([]);
    expect(await ids(client, 'TOMATOES')).toEqual(['ava']);
  });

  it('treats escaped operator characters as text', async () => {
    expect(await ids(client, 'paints\\;')).toEqual(['cara']);
    expect(await ids(client, '\\-roses')).toEqual(['cara']);
  });

  it('filters with OData, including quotes, lambdas and precedence', async () => {
    expect(await ids(client, '*', { filter: "name eq 'D''Arcy'" })).toEqual(['dan']);
    expect((await ids(client, '*', { filter: "tags/any(t: t eq 'garden')" })).sort()).toEqual([
      'ava',
      'cara',
    ]);
    expect(
      (await ids(client, '*', { filter: "city eq 'Sydney' or city eq 'Perth' and vip" })).sort(),
    ).toEqual(['ava', 'cara']);
    expect(await ids(client, '*', { filter: "(city eq 'Sydney' or city eq 'Perth') and vip" })).toEqual([
      'ava',
    ]);
    expect((await ids(client, '*', { filter: "search.in(id, 'ben,dan', ',')" })).sort()).toEqual([
      'ben',
      'dan',
    ]);
    expect(await ids(client, '*', { filter: 'joined ge 2024-02-01T00:00:00Z and age ne null' })).toEqual([
      'ben',
    ]);
    expect(await ids(client, 'garden', { filter: 'age eq null' })).toEqual(['cara']);
    const hostile = "Sydney' or true or 'x";
    expect(await ids(client, '*', { filter: `city eq '${hostile.replace(/'/g, "''")}'` })).toEqual([]);
  });

  it('answers 400 to a filter that does not parse or names a field it cannot filter', async () => {
    for (const filter of [
      "city eq 'Sydney' or true or 'x'",
      "city eq 'open",
      'age gt',
      "bio eq 'x'",
      "tags eq 'x'",
    ]) {
      const error = await client
        .search('*', { filter })
        .catch((e: unknown) => e as { statusCode?: number; message?: string });
      expect(error, filter).toMatchObject({ statusCode: 400 });
      expect((error as { message: string }).message).toContain('$filter');
    }
  });

  it('selects fields, pages with top and skip, and counts the whole result', async () => {
    const response = await client.search('*', {
      select: ['id', 'age'],
      orderBy: ['age desc'],
      top: 2,
      skip: 1,
      includeTotalCount: true,
    });
    expect(response.count).toBe(4);
    const docs = [];
    for await (const r of response.results) docs.push(r.document);
    // Nulls sort last in descending order.
    expect(docs.map((d) => ({ id: d.id, age: d.age }))).toEqual([
      { id: 'ben', age: 45 },
      { id: 'ava', age: 30 },
    ]);
    expect(Object.keys(docs[0]).filter((k) => !k.startsWith('@'))).toEqual(['id', 'age']);
    expect(await ids(client, '*', { orderBy: ['age asc', 'id desc'] })).toEqual([
      'cara',
      'ava',
      'ben',
      'dan',
    ]);
    expect(await ids(client, '*', { orderBy: ['joined desc'] })).toEqual(['cara', 'ben', 'ava', 'dan']);
    expect(await ids(client, '*', { top: 2, skip: 10 })).toEqual([]);
  });

  it('refuses ordering or faceting on fields without the attribute', async () => {
    expect(await statusOf(client.search('*', { orderBy: ['bio asc'] }))).toBe(400);
    expect(await statusOf(client.search('*', { orderBy: ['tags asc'] }))).toBe(400);
    expect(await statusOf(client.search('*', { facets: ['name'] }))).toBe(400);
    expect(await statusOf(client.search('*', { select: ['ghost' as 'id'] }))).toBe(400);
    expect(await statusOf(client.search('*', { skip: 100_001 }))).toBe(400);
    expect(await statusOf(client.search('x', { queryType: 'full' }))).toBe(400);
  });

  it('counts facets over the filtered result, by count then value, with count and sort options', async () => {
    const response = await client.search('*', {
      filter: "city ne 'Hobart'",
      top: 1,
      facets: ['city', 'tags,count:2', 'age,sort:value'],
    });
    const facet = (name: string) =>
      (response.facets?.[name] ?? []).map(({ value, count }) => ({ value, count }));
    expect(facet('city')).toEqual([
      { value: 'Sydney', count: 2 },
      { value: 'Perth', count: 1 },
    ]);
    expect(facet('tags')).toEqual([
      { value: 'garden', count: 2 },
      { value: 'art', count: 1 },
    ]);
    expect(facet('age')).toEqual([
      { value: 30, count: 1 },
      { value: 45, count: 1 },
    ]);
  });

  it('highlights matches with the requested tags, leaving the text itself unescaped as the service does', async () => {
    await client.uploadDocuments([{ id: 'xss', bio: 'Likes <b>bold</b> & "roses" a lot.' }]);
    const response = await client.search('roses', {
      highlightFields: 'bio',
      highlightPreTag: '[',
      highlightPostTag: ']',
      select: ['id'],
    });
    const highlights: Record<string, string[]> = {};
    for await (const r of response.results) highlights[r.document.id] = r.highlights?.['bio'] ?? [];
    expect(highlights['cara'].join(' ')).toContain('full of [roses]. [Roses], [roses], [roses]!');
    expect(highlights['xss']).toEqual(['Likes <b>bold</b> & "[roses]" a lot.']);
    const plain = await client.search('*', { highlightFields: 'bio', select: ['id'] });
    for await (const r of plain.results) expect(r.highlights).toBeUndefined();
  });

  it('cuts a page without top at 50 and lets the SDK follow the next-page parameters', async () => {
    const many = Array.from({ length: 120 }, (_, i) => ({
      id: `m${String(i).padStart(3, '0')}`,
      bio: 'bulk entry',
    }));
    await client.uploadDocuments(many);
    const first = await client.search('bulk', { includeTotalCount: true, select: ['id'] });
    expect(first.count).toBe(120);
    let pages = 0;
    const seen = new Set<string>();
    for await (const page of first.results.byPage()) {
      pages++;
      for (const r of page.results) seen.add(r.document.id);
    }
    expect(pages).toBe(3);
    expect(seen.size).toBe(120);
  });
});
