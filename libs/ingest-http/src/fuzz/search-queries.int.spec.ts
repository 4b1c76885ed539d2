import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACET_FIELDS, SEARCH_LIMITS } from '@twinstore/application';
import { CLASSIFICATIONS } from '@twinstore/domain';
import { queryPairArb } from './arbitraries';
import { expectProblemResponse, FuzzHarness, fuzzParams, startFuzzHarness } from './fuzz-harness';

interface SearchBody {
  total: number;
  hits: { leadId: string; highlights?: string[] }[];
  facets: Record<string, { value: string; count: number }[]>;
}

/** Text that means something to a query parser: FTS5, Lucene / AI Search simple and full syntax, OData. */
const syntaxPieceArb = fc.constantFrom(
  '"',
  '""',
  '"unbalanced',
  '*',
  'a*',
  '*a',
  '(',
  ')',
  '()',
  ':',
  'markdown:',
  'leadId:x',
  '^',
  '^2',
  '-',
  '--',
  '+',
  'NEAR',
  'NEAR(a b, 2)',
  'NEAR(',
  'AND',
  'OR',
  'NOT',
  'and',
  '&&',
  '||',
  '!',
  '{',
  '}',
  '[',
  ']',
  '[a TO b]',
  "'",
  "''",
  '\\',
  '/',
  '/re.*gex/',
  '~',
  'fuzzy~2',
  '?',
  '%',
  '_',
  '\0',
  '\n',
  '\t',
  ' ',
  '$filter=',
  ' eq ',
  "search.ismatch('x')",
  '@',
  '#',
  ';',
  '--comment',
  '/*',
  '*/',
  "'; DROP TABLE twins; --",
  'SELECT * FROM',
  'rank',
  'bm25(',
  'highlight(',
  'zeppelin',
  'sailing',
  'Lisbon',
  'é',
  '🧑‍🚀',
  '中文',
  '\uFEFF',
  '\u200B',
);
const freeTextArb = fc
  .array(fc.oneof({ weight: 3, arbitrary: syntaxPieceArb }, fc.string({ unit: 'binary', maxLength: 12 })), {
    maxLength: 20,
  })
  .map((parts) => parts.join(''));
/** q within the limit (measured like the schema: UTF-16 code units). */
const qArb = fc
  .oneof(
    freeTextArb,
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.integer({ min: 0, max: SEARCH_LIMITS.maxQueryLength }).map((n) => 'w '.repeat(n).slice(0, n)),
  )
  .filter((q) => q.length <= SEARCH_LIMITS.maxQueryLength);

const subsetArb = <T>(values: readonly T[]) => fc.subarray([...values]);
const validTagArb = fc.stringMatching(/^[a-z0-9][a-z0-9_.:+-]{0,15}$/);

/** A query string every parameter of which is valid: must be a 200, whatever q says. */
const validQueryArb = fc
  .record(
    {
      q: qArb,
      classification: subsetArb(CLASSIFICATIONS)
        .filter((c) => c.length > 0)
        .map((c) => c.join(',')),
      minIncome: fc.integer({ min: 0, max: 1e9 }).map(String),
      maxIncome: fc.double({ min: 0, max: 1e12, noNaN: true }).map(String),
      minAge: fc.integer({ min: 0, max: 150 }).map(String),
      maxAge: fc.integer({ min: 0, max: 150 }).map(String),
      location: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0),
      tags: fc.array(validTagArb, { minLength: 1, maxLength: SEARCH_LIMITS.maxTags }).map((t) => t.join(',')),
      top: fc.integer({ min: 1, max: SEARCH_LIMITS.maxTop }).map(String),
      skip: fc
        .oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: SEARCH_LIMITS.maxSkip }))
        .map(String),
      facets: subsetArb(FACET_FIELDS).map((f) => f.join(',')),
    },
    { requiredKeys: [] },
  )
  .map((params) => params as Record<string, string>);

/**
 * Hostile input, property (5): search query strings. Arbitrary parameter names and values, huge `top`,
 * negative `skip`, very long `q`, FTS and OData syntax give a 200 or a 400 problem, never a 5xx; a query whose
 * every parameter is valid is a 200 whatever its free text, and a search never writes.
 */
describe('fuzz: search query strings against the real SQLite FTS index', () => {
  let h: FuzzHarness;
  beforeAll(async () => {
    h = await startFuzzHarness('search', { consumers: ['indexer'] });
    const words = ['zeppelin', 'sailing', 'NEAR', 'AND', 'OR', '"quoted"', 'café', '🧑‍🚀', 'term-life', 'a*b'];
    for (let i = 0; i < 12; i++) {
      const res = await h.inject({
        method: 'PUT',
        url: `/v1/twins/search-seed-${i}`,
        headers: { 'content-type': 'text/markdown' },
        payload:
          `---\nage: ${20 + i * 5}\nincome: ${30000 + i * 10000}\nclassification: ${CLASSIFICATIONS[i % 3]}\n` +
          `location: ${['Lisbon', 'Perth', 'Berlin'][i % 3]}\ntags: [t${i % 4}, sailing]\n---\n` +
          `# Seed ${i}\n${words.slice(0, (i % words.length) + 1).join(' ')}\n`,
      });
      expect(res.statusCode).toBe(202);
    }
    await h.settle();
    expect(await h.runtime.search.count()).toBe(12);
  });
  afterAll(async () => {
    await h?.close();
  });

  const search = (qs: string) => h.inject({ method: 'GET', url: `/v1/search?${qs}` });
  const expectResultShape = (body: SearchBody, what: () => string) => {
    expect(typeof body.total, what()).toBe('number');
    expect(Array.isArray(body.hits), what()).toBe(true);
    expect(body.total, what()).toBeGreaterThanOrEqual(0);
    expect(typeof body.facets, what()).toBe('object');
  };

  it('(5a) any query string: 200 result or 400 SEARCH.INVALID_QUERY problem, never 5xx, nothing written', async () => {
    const longQ = fc
      .integer({ min: SEARCH_LIMITS.maxQueryLength - 2, max: 20_000 })
      .map((n) => `q=${encodeURIComponent('ä"*('.repeat(n).slice(0, n))}`);
    const hugeNumbers = fc
      .tuple(
        fc.constantFrom('top', 'skip', 'minAge', 'maxAge', 'minIncome', 'maxIncome'),
        fc.constantFrom(
          '1e308',
          '-1e308',
          '1e999',
          '-1',
          '-0',
          '0',
          '9007199254740993',
          '1'.repeat(400),
          '0x7fffffff',
          '0b11',
          '1_000',
          ' 5 ',
          '5abc',
          '',
          'Infinity',
          '-Infinity',
          'NaN',
          '%00',
          '3.0',
          '1e2',
        ),
      )
      .map(([n, v]) => `${n}=${encodeURIComponent(v)}`);
    const text = fc
      .tuple(fc.constantFrom('q', 'location', 'tags', 'classification', 'facets'), freeTextArb)
      .map(([n, v]) => `${n}=${encodeURIComponent(v)}`);
    const qsArb = fc
      .array(fc.oneof(queryPairArb, longQ, hugeNumbers, text), { maxLength: 8 })
      .map((pairs) => pairs.join('&'));
    const before = await h.snapshot();
    await fc.assert(
      fc.asyncProperty(qsArb, async (qs) => {
        const res = await search(qs);
        const r = { method: 'GET', url: `/v1/search?${qs}` };
        const what = () =>
          `?${qs.slice(0, 600)} -> ${res.statusCode} ${res.body.slice(0, 400)}\n${h.takeErrorLogs().join('').slice(0, 1500)}`;
        if (res.statusCode === 200) {
          expectResultShape(res.json<SearchBody>(), what);
        } else {
          expect(res.statusCode, what()).toBe(400);
          expect(expectProblemResponse(res, r, what)?.code, what()).toBe('SEARCH.INVALID_QUERY');
        }
      }),
      fuzzParams(400),
    );
    expect(await h.snapshot()).toEqual(before);
  });

  it('(5b) a query whose parameters are all valid is a 200, whatever its free text (FTS/OData syntax)', async () => {
    await fc.assert(
      fc.asyncProperty(validQueryArb, async (params) => {
        const qs = new URLSearchParams(params).toString();
        const res = await search(qs);
        const what = () =>
          `${JSON.stringify(params).slice(0, 600)} -> ${res.statusCode} ${res.body.slice(0, 400)}\n${h.takeErrorLogs().join('').slice(0, 1500)}`;
        expect(res.statusCode, what()).toBe(200);
        const body = res.json<SearchBody>();
        expectResultShape(body, what);
        const top = Number(params.top ?? 20);
        const skip = Number(params.skip ?? 0);
        expect(body.hits.length, what()).toBeLessThanOrEqual(top);
        expect(body.hits.length, what()).toBe(Math.max(0, Math.min(top, body.total - skip)));
        expect(new Set(body.hits.map((x) => x.leadId)).size, what()).toBe(body.hits.length);
      }),
      fuzzParams(300),
    );
  });

  it('(5c) free text alone, any Unicode up to the limit: 200, and every hit is one of the indexed twins', async () => {
    let withHits = 0;
    await fc.assert(
      fc.asyncProperty(qArb, async (q) => {
        const res = await search(`q=${encodeURIComponent(q)}&top=100`);
        const what = () => `q=${JSON.stringify(q)} -> ${res.statusCode} ${res.body.slice(0, 400)}`;
        expect(res.statusCode, what()).toBe(200);
        const body = res.json<SearchBody>();
        expect(body.total, what()).toBeLessThanOrEqual(12);
        for (const hit of body.hits) expect(hit.leadId, what()).toMatch(/^search-seed-\d+$/);
        if (body.total > 0) withHits++;
      }),
      fuzzParams(300),
    );
    // the index is really queried: text that names seeded words finds them
    expect(withHits).toBeGreaterThan(0);
  });
});
