import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SearchDocument, SearchIndex, SearchQuery, SearchResult } from '@twinstore/application';
import { parseMetadata, TwinMetadataInput, Version } from '@twinstore/domain';

export interface SearchIndexSubject {
  subject: SearchIndex;
  cleanup(): Promise<void>;
}

/** Version number `n` as a ULID; a larger n is a newer version. */
const v = (n: number) => `01HZZZZZZZ${String(n).padStart(16, '0')}` as Version;

function doc(
  leadId: string,
  markdown: string,
  metadata: TwinMetadataInput = {},
  options: { version?: number; savedAt?: string } = {},
): SearchDocument {
  return {
    leadId,
    version: v(options.version ?? 1),
    markdown,
    metadata: parseMetadata(metadata),
    savedAt: options.savedAt ?? '2024-05-01T00:00:00.000Z',
  };
}

const query = (q: Partial<SearchQuery> = {}): SearchQuery => ({ top: 20, skip: 0, facets: [], ...q });
const ids = (result: SearchResult) => result.hits.map((h) => h.leadId);
const sorted = (values: string[]) => [...values].sort();

/**
 * A small fixed corpus for filter and facet tests. Every persona mentions "garden"; the other words are
 * there so text and filters can be combined.
 */
const CORPUS: SearchDocument[] = [
  doc(
    'ava',
    '# Ava\nAva loves her garden and solar panels.',
    {
      classification: 'hot',
      income: 50_000,
      age: 30,
      location: 'Sydney',
      tags: ['vip', 'solar'],
    },
    { savedAt: '2024-05-01T00:00:00.000Z' },
  ),
  doc(
    'ben',
    '# Ben\nBen tends a small garden near the harbour.',
    {
      classification: 'warm',
      income: 75_000,
      age: 45,
      location: 'Melbourne',
      tags: ['vip'],
    },
    { savedAt: '2024-05-02T00:00:00.000Z' },
  ),
  doc(
    'cara',
    '# Cara\nCara wants solar power for her garden shed.',
    {
      classification: 'cold',
      income: 100_000,
      age: 60,
      location: 'sydney',
      tags: ['solar'],
    },
    { savedAt: '2024-05-03T00:00:00.000Z' },
  ),
  doc(
    'dan',
    '# Dan\nDan has a rooftop garden in the city.',
    {
      classification: 'hot',
      income: 120_000,
      age: 29,
      location: 'Brisbane',
      tags: ['vip', 'solar', 'ev'],
    },
    { savedAt: '2024-05-04T00:00:00.000Z' },
  ),
  doc(
    'eve',
    '# Eve\nEve asked about a community garden.',
    { classification: 'warm', tags: [] },
    { savedAt: '2024-05-05T00:00:00.000Z' },
  ),
];

const HOSTILE_QUERIES = [
  '"',
  'AND',
  '*',
  'a:b',
  '(',
  "hot' or true or 'x",
  'NEAR(garden solar)',
  'markdown: garden',
  '^garden',
  'garden OR',
  '-garden',
  ')) OR 1=1 --',
  '"garden',
  '',
  '   ',
];

/**
 * The subject, searched the way the application searches it: with a loader of the hits' markdown, which an
 * index that keeps no copy of the text needs for highlights. Here the text is the upserted text.
 */
function givingHitText(subject: SearchIndex): SearchIndex {
  const texts = new Map<string, string>();
  const key = (leadId: string, version: Version) => `${leadId}@${version}`;
  return {
    upsert: (documents) => {
      for (const d of documents) texts.set(key(d.leadId, d.version), d.markdown);
      return subject.upsert(documents);
    },
    remove: (leadId, version) => subject.remove(leadId, version),
    search: (q, options) =>
      subject.search(q, {
        hitText: async (hits) => hits.map((h) => texts.get(key(h.leadId, h.version)) ?? null),
        ...options,
      }),
    version: (leadId) => subject.version(leadId),
    count: () => subject.count(),
    close: () => subject.close(),
  };
}

/**
 * The behaviour every SearchIndex must have, whatever the engine. Scores and fragment boundaries are the
 * engine's business; ranking order is asserted only between clearly distinguishable documents.
 */
export function describeSearchIndexContract(name: string, factory: () => Promise<SearchIndexSubject>): void {
  describe(`SearchIndex contract: ${name}`, () => {
    let index: SearchIndex;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const created = await factory();
      index = givingHitText(created.subject);
      cleanup = created.cleanup;
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('text search', () => {
      it('ranks a document dense in the term above one that mentions it once, and omits non-matches', async () => {
        await index.upsert([
          doc(
            'sparse',
            `# Notes\n${'Talked about the weather and the family. '.repeat(30)}One word on kayaks.`,
          ),
          doc('dense', '# Kayaks\nKayaks, kayaks and more kayaks: owns three kayaks.'),
          doc('none', '# Bikes\nRides bikes on weekends.'),
        ]);
        const result = await index.search(query({ q: 'kayaks' }));
        expect(ids(result)).toEqual(['dense', 'sparse']);
        expect(result.total).toBe(2);
        expect(result.hits[0].score).toBeGreaterThan(result.hits[1].score);
      });

      it('requires every term (AND), in any order and any case', async () => {
        await index.upsert([
          doc('both', 'Interested in solar batteries for the farm.'),
          doc('solar-only', 'Interested in solar hot water.'),
          doc('battery-only', 'Asked about a battery for the boat.'),
        ]);
        expect(ids(await index.search(query({ q: 'farm SOLAR' })))).toEqual(['both']);
        expect(ids(await index.search(query({ q: 'solar water' })))).toEqual(['solar-only']);
        expect((await index.search(query({ q: 'solar boat' }))).total).toBe(0);
      });

      it('returns the metadata of each hit', async () => {
        await index.upsert(CORPUS);
        const result = await index.search(query({ q: 'rooftop' }));
        expect(result.hits).toHaveLength(1);
        expect(result.hits[0]).toMatchObject({
          leadId: 'dan',
          version: v(1),
          classification: 'hot',
          income: 120_000,
          age: 29,
          location: 'Brisbane',
        });
        expect(sorted(result.hits[0].tags)).toEqual(['ev', 'solar', 'vip']);
        const eve = (await index.search(query({ q: 'community' }))).hits[0];
        expect(eve.leadId).toBe('eve');
        expect(eve.tags).toEqual([]);
        expect(eve.age).toBeUndefined();
        expect(eve.income).toBeUndefined();
        expect(eve.location).toBeUndefined();
      });

      it('reads a quoted part of q as a phrase: its words next to each other, in that order', async () => {
        await index.upsert([
          doc('phrase', 'Wants term life cover for the family, no income protection.'),
          doc('apart', 'Life insurance is on hold; the term deposit matures in May.'),
          doc('reversed', 'Asked about life term options, then income protection cover.'),
        ]);
        expect(ids(await index.search(query({ q: '"term life"' })))).toEqual(['phrase']);
        expect(sorted(ids(await index.search(query({ q: 'term life' }))))).toEqual([
          'apart',
          'phrase',
          'reversed',
        ]);
        // A phrase and a plain word together: both must match.
        expect(ids(await index.search(query({ q: '"income protection" family' })))).toEqual(['phrase']);
        expect(sorted(ids(await index.search(query({ q: '"income protection"' }))))).toEqual([
          'phrase',
          'reversed',
        ]);
        // Punctuation between the words of the text or the query does not break the phrase.
        expect(ids(await index.search(query({ q: '"cover, for-the family"' })))).toEqual(['phrase']);
        expect((await index.search(query({ q: '"deposit term"' }))).total).toBe(0);
      });

      it('reads an unpaired quote as no operator at all', async () => {
        await index.upsert([
          doc('phrase', 'Wants term life cover for the family.'),
          doc('apart', 'Life insurance on hold; the term deposit matures in May.'),
        ]);
        expect(sorted(ids(await index.search(query({ q: 'term "life' }))))).toEqual(['apart', 'phrase']);
        expect(sorted(ids(await index.search(query({ q: '"term life" "' }))))).toEqual(['phrase']);
      });

      it('highlights the words of a phrase', async () => {
        await index.upsert([doc('phrase', 'Wants term life cover for the family, and a term deposit.')]);
        const [hit] = (await index.search(query({ q: '"term life"' }))).hits;
        expect(hit.highlights.join(' ')).toMatch(/<em>term<\/em> <em>life<\/em>|<em>term life<\/em>/);
      });

      it('finds accented, non-Latin and emoji-laden text and highlights it', async () => {
        await index.upsert([
          doc('zoe', '# Zoë Müller 🚀\nLives in Zürich 🏔️, studies 東京 history, says "¡olé!" 🎉 a lot.'),
          doc('plain', '# Plain\nNothing special here.'),
        ]);
        const zurich = await index.search(query({ q: 'Zürich' }));
        expect(ids(zurich)).toEqual(['zoe']);
        expect(zurich.hits[0].highlights.join(' ')).toContain('<em>Zürich</em>');
        expect(ids(await index.search(query({ q: 'müller' })))).toEqual(['zoe']);
        expect(ids(await index.search(query({ q: '東京' })))).toEqual(['zoe']);
        await expect(index.search(query({ q: '🚀' }))).resolves.toBeDefined();
        await expect(index.search(query({ q: '🚀 Zürich' }))).resolves.toBeDefined();
      });
    });

    describe('highlights', () => {
      it('wraps matches in <em> and escapes the markdown around them', async () => {
        await index.upsert([
          doc('xss', 'Bio: <b>x</b> & <script>alert("lobsters")</script> <em>fake</em> & crabs.'),
        ]);
        const [hit] = (await index.search(query({ q: 'lobsters' }))).hits;
        const html = hit.highlights.join(' ');
        expect(html).toContain('<em>lobsters</em>');
        expect(html).not.toContain('<script>');
        expect(html).not.toContain('<b>');
        expect(html).toContain('&lt;script&gt;');
        expect(html).toContain('&amp;');
        expect(html).toContain('&lt;em&gt;fake&lt;/em&gt;');
        // Only the engine's markers are tags: every "<" in the output opens an <em> or closes one.
        expect(html.replace(/<\/?em>/g, '')).not.toMatch(/[<>]/);
        expect(html.match(/<em>/g)?.length).toBe(html.match(/<\/em>/g)?.length);
      });

      it('gives each hit a fragment of its own document', async () => {
        const animals = ['walrus', 'narwhal', 'pelican', 'octopus', 'flamingo', 'platypus'];
        await index.upsert(animals.map((a, i) => doc(`own-${i}`, `The ${a} enjoys kayaking on weekends.`)));
        const result = await index.search(query({ q: 'kayaking', top: 10 }));
        expect(result.hits).toHaveLength(animals.length);
        for (const hit of result.hits) {
          const animal = animals[Number(hit.leadId.slice(4))];
          expect(hit.highlights.join(' ')).toContain(animal);
        }
      });

      it('has no highlights in a filter-only listing', async () => {
        await index.upsert(CORPUS);
        const result = await index.search(query({}));
        expect(result.hits.length).toBeGreaterThan(0);
        for (const hit of result.hits) expect(hit.highlights).toEqual([]);
      });
    });

    describe('filters', () => {
      beforeEach(async () => {
        await index.upsert(CORPUS);
      });

      it('classification: any of the listed values', async () => {
        expect(sorted(ids(await index.search(query({ classification: ['hot'] }))))).toEqual(['ava', 'dan']);
        expect(sorted(ids(await index.search(query({ classification: ['cold', 'warm'] }))))).toEqual([
          'ben',
          'cara',
          'eve',
        ]);
      });

      it('income range, both ends inclusive; documents without income never match it', async () => {
        expect(sorted(ids(await index.search(query({ minIncome: 75_000, maxIncome: 100_000 }))))).toEqual([
          'ben',
          'cara',
        ]);
        expect(sorted(ids(await index.search(query({ minIncome: 100_000 }))))).toEqual(['cara', 'dan']);
        expect(sorted(ids(await index.search(query({ maxIncome: 50_000 }))))).toEqual(['ava']);
      });

      it('age range, both ends inclusive', async () => {
        expect(sorted(ids(await index.search(query({ minAge: 30, maxAge: 45 }))))).toEqual(['ava', 'ben']);
        expect(sorted(ids(await index.search(query({ maxAge: 29 }))))).toEqual(['dan']);
        expect(sorted(ids(await index.search(query({ minAge: 60 }))))).toEqual(['cara']);
      });

      it('location: exact and case-insensitive, not a substring', async () => {
        expect(sorted(ids(await index.search(query({ location: 'SYDNEY' }))))).toEqual(['ava', 'cara']);
        expect((await index.search(query({ location: 'Syd' }))).total).toBe(0);
        expect(ids(await index.search(query({ location: 'brisbane' })))).toEqual(['dan']);
      });

      it('tags: every listed tag must be present', async () => {
        expect(sorted(ids(await index.search(query({ tags: ['vip'] }))))).toEqual(['ava', 'ben', 'dan']);
        expect(sorted(ids(await index.search(query({ tags: ['vip', 'solar'] }))))).toEqual(['ava', 'dan']);
        expect(ids(await index.search(query({ tags: ['solar', 'ev', 'vip'] })))).toEqual(['dan']);
        expect((await index.search(query({ tags: ['vip', 'unknown'] }))).total).toBe(0);
      });

      it('combines filters with each other and with text', async () => {
        const filtered = await index.search(
          query({ classification: ['hot', 'cold'], tags: ['solar'], minIncome: 60_000 }),
        );
        expect(sorted(ids(filtered))).toEqual(['cara', 'dan']);
        const withText = await index.search(
          query({ q: 'solar', classification: ['hot', 'cold'], location: 'sydney' }),
        );
        expect(sorted(ids(withText))).toEqual(['ava', 'cara']);
        expect(withText.total).toBe(2);
        const narrow = await index.search(query({ q: 'garden', minAge: 40, maxAge: 70, tags: ['vip'] }));
        expect(ids(narrow)).toEqual(['ben']);
      });

      it('counts every filtered match when the page is smaller than the result', async () => {
        const withText = await index.search(query({ q: 'garden', tags: ['vip'], top: 1 }));
        expect(withText.hits).toHaveLength(1);
        expect(withText.total).toBe(3);
        const listing = await index.search(query({ classification: ['hot'], top: 1, skip: 1 }));
        expect(ids(listing)).toEqual(['ava']);
        expect(listing.total).toBe(2);
      });

      it('treats hostile filter values as plain values that match nothing', async () => {
        const hostile = "hot' or true or 'x";
        await expect(index.search(query({ location: hostile }))).resolves.toMatchObject({
          total: 0,
          hits: [],
        });
        await expect(index.search(query({ tags: [hostile] }))).resolves.toMatchObject({ total: 0, hits: [] });
        await expect(index.search(query({ q: 'garden', location: hostile }))).resolves.toMatchObject({
          total: 0,
          hits: [],
        });
      });
    });

    describe('listing without text', () => {
      it('lists every document newest first when q is absent or empty', async () => {
        await index.upsert(CORPUS);
        const expected = ['eve', 'dan', 'cara', 'ben', 'ava'];
        expect(ids(await index.search(query({})))).toEqual(expected);
        expect(ids(await index.search(query({ q: '' })))).toEqual(expected);
        expect((await index.search(query({}))).total).toBe(5);
      });

      it('orders a filtered listing newest first too', async () => {
        await index.upsert(CORPUS);
        expect(ids(await index.search(query({ tags: ['vip'] })))).toEqual(['dan', 'ben', 'ava']);
      });
    });

    describe('paging and totals', () => {
      it('counts a small result set exactly', async () => {
        await index.upsert(CORPUS);
        for (const q of [
          query({ q: 'garden' }),
          query({ q: 'garden', facets: ['classification'] }),
          query({}),
        ]) {
          const result = await index.search(q);
          expect(result.total).toBe(CORPUS.length);
          expect(result.totalIsEstimate ?? false).toBe(false);
        }
      });

      it('pages through the whole ranked result with a stable total', async () => {
        await index.upsert(
          Array.from({ length: 7 }, (_, i) =>
            doc(
              `p${i}`,
              `Kiwi ${'orchard '.repeat(i + 1)}notes.`,
              {},
              { savedAt: `2024-01-0${i + 1}T00:00:00Z` },
            ),
          ),
        );
        await index.upsert([doc('other', 'Unrelated text.')]);
        const seen: string[] = [];
        for (let skip = 0; skip < 7; skip += 3) {
          const page = await index.search(query({ q: 'orchard', top: 3, skip }));
          expect(page.total).toBe(7);
          expect(page.hits.length).toBe(Math.min(3, 7 - skip));
          seen.push(...ids(page));
        }
        expect(sorted(seen)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
        const beyond = await index.search(query({ q: 'orchard', top: 3, skip: 9 }));
        expect(beyond.hits).toEqual([]);
        expect(beyond.total).toBe(7);
        const listed = await index.search(query({ top: 2, skip: 6 }));
        expect(listed.total).toBe(8);
        expect(ids(listed)).toEqual(['p1', 'p0']);
      });
    });

    describe('facets', () => {
      beforeEach(async () => {
        await index.upsert(CORPUS);
      });

      it('counts over the whole filtered result set, not just the page', async () => {
        const result = await index.search(
          query({ q: 'garden', top: 1, facets: ['classification', 'location', 'tags'] }),
        );
        expect(result.hits).toHaveLength(1);
        expect(result.total).toBe(5);
        const byValue = (facet: 'classification' | 'location' | 'tags') =>
          Object.fromEntries((result.facets[facet] ?? []).map((f) => [f.value.toLowerCase(), f.count]));
        expect(byValue('classification')).toEqual({ hot: 2, warm: 2, cold: 1 });
        expect(byValue('tags')).toEqual({ vip: 3, solar: 3, ev: 1 });
        const locations = byValue('location');
        expect(locations.melbourne).toBe(1);
        expect(locations.brisbane).toBe(1);
      });

      it('respects the filters and orders values by count', async () => {
        const result = await index.search(
          query({ tags: ['solar'], top: 1, facets: ['classification', 'tags'] }),
        );
        expect(result.total).toBe(3);
        expect(result.facets.classification).toEqual([
          { value: 'hot', count: 2 },
          { value: 'cold', count: 1 },
        ]);
        expect(result.facets.tags?.[0]).toEqual({ value: 'solar', count: 3 });
        expect(result.facets.tags).toContainEqual({ value: 'vip', count: 2 });
        expect(result.facets.tags).toContainEqual({ value: 'ev', count: 1 });
        expect(result.facets.location).toBeUndefined();
      });

      it('returns only the facets asked for, empty when nothing matches', async () => {
        const none = await index.search(query({ q: 'submarine', facets: ['classification'] }));
        expect(none.total).toBe(0);
        expect(none.facets.classification ?? []).toEqual([]);
        expect(none.facets.tags).toBeUndefined();
        expect((await index.search(query({ q: 'garden' }))).facets).toEqual({});
      });
    });

    describe('versions', () => {
      it('applies a document once: a duplicate is stale and changes nothing', async () => {
        const d = doc('lead-1', 'Enjoys sailing.');
        expect(await index.upsert([d])).toEqual({ applied: 1, stale: 0 });
        expect(await index.upsert([d])).toEqual({ applied: 0, stale: 1 });
        expect(await index.count()).toBe(1);
        expect(await index.version('lead-1')).toBe(v(1));
        expect((await index.search(query({ q: 'sailing' }))).total).toBe(1);
      });

      it('replaces the text of a newer version, so old words no longer match', async () => {
        await index.upsert([doc('lead-1', 'Likes tennis.', { tags: ['sport'] }, { version: 1 })]);
        expect(
          await index.upsert([doc('lead-1', 'Likes chess.', { tags: ['games'] }, { version: 2 })]),
        ).toEqual({
          applied: 1,
          stale: 0,
        });
        expect((await index.search(query({ q: 'tennis' }))).total).toBe(0);
        expect(ids(await index.search(query({ q: 'chess' })))).toEqual(['lead-1']);
        expect((await index.search(query({ tags: ['sport'] }))).total).toBe(0);
        expect(ids(await index.search(query({ tags: ['games'] })))).toEqual(['lead-1']);
        expect(await index.count()).toBe(1);
      });

      it('converges whatever the order: an older version after a newer one is stale', async () => {
        await index.upsert([doc('lead-1', 'Version three mentions zebras.', {}, { version: 3 })]);
        expect(
          await index.upsert([doc('lead-1', 'Version two mentions lions.', {}, { version: 2 })]),
        ).toEqual({
          applied: 0,
          stale: 1,
        });
        expect(await index.version('lead-1')).toBe(v(3));
        expect((await index.search(query({ q: 'lions' }))).total).toBe(0);
        expect(ids(await index.search(query({ q: 'zebras' })))).toEqual(['lead-1']);
      });

      it('keeps the newest of several versions of a lead in one call', async () => {
        const result = await index.upsert([
          doc('lead-1', 'Two: owls.', {}, { version: 2 }),
          doc('lead-1', 'Three: foxes.', {}, { version: 3 }),
          doc('lead-1', 'One: bears.', {}, { version: 1 }),
          doc('lead-2', 'Other lead: owls.', {}, { version: 1 }),
        ]);
        expect(result).toEqual({ applied: 2, stale: 2 });
        expect(await index.version('lead-1')).toBe(v(3));
        expect(ids(await index.search(query({ q: 'owls' })))).toEqual(['lead-2']);
        expect(ids(await index.search(query({ q: 'foxes' })))).toEqual(['lead-1']);
        expect(await index.count()).toBe(2);
      });

      it('removes a lead and its tombstone blocks older upserts; a newer one brings it back', async () => {
        await index.upsert([doc('lead-1', 'Collects stamps.', { tags: ['hobby'] }, { version: 1 })]);
        expect(await index.remove('lead-1', v(2))).toBe('applied');
        expect(await index.version('lead-1')).toBeNull();
        expect(await index.count()).toBe(0);
        expect((await index.search(query({ q: 'stamps' }))).total).toBe(0);
        expect((await index.search(query({ tags: ['hobby'] }))).total).toBe(0);

        expect(await index.upsert([doc('lead-1', 'Collects stamps.', {}, { version: 1 })])).toEqual({
          applied: 0,
          stale: 1,
        });
        expect(
          await index.upsert([doc('lead-1', 'Same version as the deletion.', {}, { version: 2 })]),
        ).toEqual({ applied: 0, stale: 1 });
        expect(await index.remove('lead-1', v(2))).toBe('stale');
        expect((await index.search(query({ q: 'stamps' }))).total).toBe(0);

        expect(await index.upsert([doc('lead-1', 'Now collects coins.', {}, { version: 3 })])).toEqual({
          applied: 1,
          stale: 0,
        });
        expect(ids(await index.search(query({ q: 'coins' })))).toEqual(['lead-1']);
      });

      it('ignores a removal older than the indexed version', async () => {
        await index.upsert([doc('lead-1', 'Plays golf.', {}, { version: 5 })]);
        expect(await index.remove('lead-1', v(4))).toBe('stale');
        expect(await index.version('lead-1')).toBe(v(5));
        expect(ids(await index.search(query({ q: 'golf' })))).toEqual(['lead-1']);
      });

      it('remembers a removal that arrives before the lead was ever indexed', async () => {
        expect(await index.remove('ghost', v(5))).toBe('applied');
        expect(await index.upsert([doc('ghost', 'Late save.', {}, { version: 4 })])).toEqual({
          applied: 0,
          stale: 1,
        });
        expect(await index.version('ghost')).toBeNull();
      });
    });

    describe('hostile query text', () => {
      beforeEach(async () => {
        await index.upsert(CORPUS);
      });

      for (const q of HOSTILE_QUERIES) {
        it(`answers ${JSON.stringify(q)} without error`, async () => {
          const result = await index.search(query({ q, facets: ['classification'] }));
          expect(result.total).toBeGreaterThanOrEqual(result.hits.length);
          for (const id of ids(result)) expect(CORPUS.map((d) => d.leadId)).toContain(id);
        });
      }

      it('does not let quote tricks widen the match', async () => {
        expect((await index.search(query({ q: "hot' or true or 'x" }))).total).toBe(0);
        expect((await index.search(query({ q: 'garden" OR "x' }))).total).toBe(0);
      });

      it('treats operator words and characters as plain text', async () => {
        await index.upsert([doc('ops', 'Notes: a:b (and) NEAR the garden "quoted" star*')]);
        expect(ids(await index.search(query({ q: 'near quoted' })))).toEqual(['ops']);
        expect(ids(await index.search(query({ q: 'garden AND quoted' })))).toEqual(['ops']);
        expect(ids(await index.search(query({ q: 'star*' })))).toEqual(['ops']);
      });
    });
  });
}
