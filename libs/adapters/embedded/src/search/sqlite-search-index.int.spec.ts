import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SearchDocument, SearchOptions, SearchQuery } from '@twinstore/application';
import { parseMetadata, TwinMetadataInput, Version } from '@twinstore/domain';
import { describeSearchIndexContract, makeTempDir, TempDir } from '@twinstore/testing';
import { openSqliteSearchIndex, SEARCH_FACET_LIMIT, SqliteSearchIndex } from './sqlite-search-index';
import { rawFts5InsertRate } from './raw-fts5-baseline';

describeSearchIndexContract('SqliteSearchIndex', async () => {
  const tmp = await makeTempDir('search-contract');
  const subject = openSqliteSearchIndex({ file: join(tmp.dir, 'search.db') });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
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

/** Search options whose loader gives the hits' text from `docs`, as the application does from the blobs. */
const textOf = (docs: SearchDocument[]): SearchOptions => ({
  hitText: async (hits) => hits.map((h) => docs.find((d) => d.leadId === h.leadId)?.markdown ?? null),
});

describe('SqliteSearchIndex (FTS5 specifics)', () => {
  let tmp: TempDir;
  let file: string;
  let index: SqliteSearchIndex;

  beforeEach(async () => {
    tmp = await makeTempDir('search-sqlite');
    file = join(tmp.dir, 'search.db');
    index = openSqliteSearchIndex({ file });
  });

  afterEach(async () => {
    await index.close();
    await tmp.cleanup();
  });

  /** FTS5's own check that the index matches the external content table exactly. */
  function assertFtsIntegrity(): void {
    const db = new Database(file);
    try {
      expect(() =>
        db.prepare(`INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)`).run(),
      ).not.toThrow();
    } finally {
      db.close();
    }
  }

  it('starts a text + filter query from the FTS table, even when statistics favour a metadata index', async () => {
    // Unique locations plus ANALYZE make the location index look ideal: exactly what lures a plain JOIN
    // into starting from metadata and probing FTS5 once per row (the FACTS.md trap).
    await index.upsert(
      Array.from({ length: 200 }, (_, i) => doc(`l${i}`, `solar garden ${i}`, { location: `Town ${i}` })),
    );
    await index.close();
    const db = new Database(file);
    db.exec('ANALYZE');
    db.close();
    index = openSqliteSearchIndex({ file });
    for (const q of [
      query({ q: 'solar', location: 'Town 7' }),
      query({ q: 'solar garden', classification: ['hot'], location: 'Town 7', minIncome: 1, tags: ['vip'] }),
    ]) {
      const loops = index.explainSearch(q).filter((line) => /^(SCAN|SEARCH) /.test(line));
      expect(loops[0]).toMatch(/^SCAN search_fts VIRTUAL TABLE/);
      expect(loops[1]).toMatch(/^SEARCH m USING INTEGER PRIMARY KEY/);
    }
    const hits = await index.search(query({ q: 'solar', location: 'town 7' }));
    expect(hits.hits.map((h) => h.leadId)).toEqual(['l7']);
  });

  it('drives a filter-only listing from a metadata index, not a full scan', async () => {
    await index.upsert([doc('a', 'x', { location: 'Sydney' })]);
    for (const q of [query({ location: 'sydney' }), query({}), query({ classification: ['hot'] })]) {
      const plan = index.explainSearch(q).join('\n');
      expect(plan).not.toContain('search_fts');
      expect(plan).toMatch(/USING (COVERING )?INDEX search_meta_/);
    }
  });

  it('stems English and folds diacritics', async () => {
    const docs = [doc('a', 'She was running a café in Montréal.'), doc('b', 'Nothing relevant.')];
    await index.upsert(docs);
    expect((await index.search(query({ q: 'runs' }))).hits.map((h) => h.leadId)).toEqual(['a']);
    expect((await index.search(query({ q: 'cafe montreal' }))).hits.map((h) => h.leadId)).toEqual(['a']);
    const [hit] = (await index.search(query({ q: 'cafe' }), textOf(docs))).hits;
    expect(hit.highlights[0]).toContain('<em>café</em>');
  });

  it('cannot be made to emit markup by control characters in the markdown', async () => {
    const docs = [doc('a', 'Evil \u0002script\u0003 and \u0002 walrus \u0003 text')];
    await index.upsert(docs);
    const [hit] = (await index.search(query({ q: 'walrus' }), textOf(docs))).hits;
    expect(hit.highlights[0]).toContain('<em>walrus</em>');
    expect(hit.highlights[0].match(/<em>/g)).toHaveLength(1);
    expect(hit.highlights[0]).not.toMatch(/[\u0000-\u001f]/);
  });

  it('keeps the FTS index exactly in step with its content through updates and removals', async () => {
    await index.upsert(Array.from({ length: 50 }, (_, i) => doc(`l${i}`, `first text ${i} apples`, {}, 1)));
    await index.upsert(Array.from({ length: 50 }, (_, i) => doc(`l${i}`, `second text ${i} pears`, {}, 2)));
    for (let i = 0; i < 50; i += 2) await index.remove(`l${i}`, v(3));
    assertFtsIntegrity();
    expect((await index.search(query({ q: 'apples' }))).total).toBe(0);
    expect((await index.search(query({ q: 'pears' }))).total).toBe(25);
    expect(await index.count()).toBe(25);
  });

  it('applies a multi-document upsert atomically: one failing document leaves nothing behind', async () => {
    const broken = { ...doc('b', 'beta'), savedAt: null as unknown as string };
    await expect(index.upsert([doc('a', 'alpha'), broken])).rejects.toThrow();
    expect(await index.count()).toBe(0);
    expect(await index.version('a')).toBeNull();
    assertFtsIntegrity();
  });

  it('keeps documents, versions and tombstones across reopening the file', async () => {
    await index.upsert([doc('a', 'persistent otters', {}, 2)]);
    await index.remove('gone', v(9));
    await index.close();
    index = openSqliteSearchIndex({ file });
    expect(await index.version('a')).toBe(v(2));
    expect((await index.search(query({ q: 'otters' }))).hits.map((h) => h.leadId)).toEqual(['a']);
    expect(await index.upsert([doc('gone', 'late', {}, 8)])).toEqual({ applied: 0, stale: 1 });
  });

  it('sees writes made by another connection to the same file', async () => {
    const other = openSqliteSearchIndex({ file });
    try {
      await other.upsert([doc('a', 'shared badgers')]);
      expect((await index.search(query({ q: 'badgers' }))).total).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('groups location facets case-insensitively and caps every facet', async () => {
    await index.upsert([
      doc('a', 'x', { location: 'Sydney', tags: ['t00'] }),
      doc('b', 'x', { location: 'SYDNEY' }),
      ...Array.from({ length: SEARCH_FACET_LIMIT + 5 }, (_, i) =>
        doc(`c${i}`, 'x', { location: `Town ${i}`, tags: [`t${String(i).padStart(2, '0')}`] }),
      ),
    ]);
    const result = await index.search(query({ facets: ['location', 'tags'] }));
    expect(result.facets.location).toHaveLength(SEARCH_FACET_LIMIT);
    expect(result.facets.location?.[0]).toMatchObject({ count: 2 });
    expect(result.facets.location?.[0].value.toLowerCase()).toBe('sydney');
    expect(result.facets.tags).toHaveLength(SEARCH_FACET_LIMIT);
    expect(result.facets.tags?.[0]).toEqual({ value: 't00', count: 2 });
  });

  it('keeps no copy of the text: highlights come from the text the caller loads, for the page only', async () => {
    const docs = [doc('a', 'Owns a walrus named Kevin.')];
    await index.upsert(docs);
    expect((await index.search(query({ q: 'walrus' }))).hits[0].highlights).toEqual([]);
    const loaded: string[] = [];
    const [hit] = (
      await index.search(query({ q: 'walrus' }), {
        hitText: async (hits) => {
          loaded.push(...hits.map((h) => `${h.leadId}@${h.version}`));
          return textOf(docs).hitText!(hits);
        },
      })
    ).hits;
    expect(hit.highlights[0]).toContain('<em>walrus</em>');
    expect(loaded).toEqual([`a@${v(1)}`]);
    // A text that no longer matches (a newer version in the store) gives no fragment rather than a wrong one.
    const stale = await index.search(query({ q: 'walrus' }), { hitText: async () => ['Sold the boat.'] });
    expect(stale.hits[0].highlights).toEqual([]);
    await index.close();
    const db = new Database(file, { readonly: true });
    try {
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
      expect(tables).not.toContain('search_content');
      expect(db.prepare('SELECT markdown FROM search_fts').pluck().all()).toEqual([null]);
    } finally {
      db.close();
      index = openSqliteSearchIndex({ file });
    }
  });

  describe('large match sets (ADR 0009)', () => {
    const N = 3000;
    // The oldest 500 documents say "gold" five times, the others once: over the whole index the old ones rank
    // first; the newest-first window only holds the newer ones.
    const corpus = Array.from({ length: N }, (_, i) =>
      doc(`l${String(i).padStart(4, '0')}`, `${i < 500 ? 'gold gold gold gold gold' : 'gold'} item ${i}`, {
        classification: i % 2 === 0 ? 'hot' : 'cold',
        location: i === 3 || i === 7 ? 'Perth' : 'Sydney',
      }),
    );

    beforeEach(async () => {
      for (let i = 0; i < N; i += 1000) await index.upsert(corpus.slice(i, i + 1000));
    });

    it('ranks inside a window of the newest documents and marks the total and facets as estimates', async () => {
      const result = await index.search(query({ q: 'gold', top: 10, facets: ['classification'] }));
      expect(result.hits).toHaveLength(10);
      expect(result.totalIsEstimate).toBe(true);
      expect(result.total).toBe(N);
      for (const hit of result.hits) expect(Number(hit.leadId.slice(1))).toBeGreaterThanOrEqual(500);
      const scores = result.hits.map((h) => h.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      expect(result.facets.classification).toEqual([
        { value: 'cold', count: N / 2 },
        { value: 'hot', count: N / 2 },
      ]);
    });

    it('lists newest first, unscored, when a clause is too common to score within budget', async () => {
      await index.close();
      index = openSqliteSearchIndex({ file, bm25PostingsBudget: 1000 });
      const result = await index.search(query({ q: 'gold', top: 5, skip: 2, facets: ['location'] }));
      expect(result.hits.map((h) => h.leadId)).toEqual(['l2997', 'l2996', 'l2995', 'l2994', 'l2993']);
      expect(result.hits.map((h) => h.score)).toEqual([1, 1, 1, 1, 1]);
      expect(result).toMatchObject({ total: N, totalIsEstimate: true });
      // A rare clause joined to a common one: few matches, all of them, newest first, counted exactly.
      const rare = await index.search(query({ q: 'gold item 42', facets: ['location'] }));
      expect(rare.hits.map((h) => h.leadId)).toEqual(['l0042']);
      expect(rare.totalIsEstimate).toBeUndefined();
      // A selective filter is checked document by document, newest first, and counted exactly.
      const perth = await index.search(query({ q: 'gold', location: 'Perth', facets: ['classification'] }));
      expect(perth.hits.map((h) => h.leadId)).toEqual(['l0007', 'l0003']);
      expect(perth).toMatchObject({ total: 2, facets: { classification: [{ value: 'cold', count: 2 }] } });
      expect(perth.totalIsEstimate).toBeUndefined();
      const hotPerth = await index.search(query({ q: 'gold', location: 'Perth', classification: ['hot'] }));
      expect(hotPerth).toMatchObject({ total: 0, hits: [] });
    });

    it('still ranks a small match set over the whole index, exactly', async () => {
      const result = await index.search(query({ q: 'item 42' }));
      expect(result.hits.map((h) => h.leadId)).toEqual(['l0042']);
      expect(result.totalIsEstimate).toBeUndefined();
    });

    it('widens the window until a selective filter fills the page, down to the oldest documents', async () => {
      const result = await index.search(query({ q: 'gold', location: 'perth' }));
      expect(result.hits.map((h) => h.leadId).sort()).toEqual(['l0003', 'l0007']);
      expect(result.total).toBe(2);
    });

    it('estimates a large listing from a sample and counts a small one exactly', async () => {
      // Over 2,000 matches: sampled from the newest 5,000 documents, here all of them, so the estimate is exact.
      const all = await index.search(query({ facets: ['classification'] }));
      expect(all).toMatchObject({ total: N, totalIsEstimate: true });
      expect(all.facets.classification).toEqual([
        { value: 'cold', count: N / 2 },
        { value: 'hot', count: N / 2 },
      ]);
      const perth = await index.search(query({ location: 'Perth', facets: ['location'] }));
      expect(perth).toMatchObject({ total: 2, facets: { location: [{ value: 'Perth', count: 2 }] } });
    });
  });

  it('upgrades a version 1 file (markdown kept twice) in place, without a reindex', async () => {
    await index.close();
    const legacy = join(tmp.dir, 'legacy.db');
    const db = new Database(legacy);
    db.exec(`
      CREATE TABLE search_meta (doc_id INTEGER PRIMARY KEY, lead_id TEXT NOT NULL UNIQUE, version TEXT NOT NULL,
        saved_at TEXT NOT NULL, classification TEXT NOT NULL, age INTEGER, income REAL, location TEXT,
        location_key TEXT, tags TEXT NOT NULL);
      CREATE TABLE search_tags (doc_id INTEGER NOT NULL REFERENCES search_meta (doc_id) ON DELETE CASCADE,
        tag TEXT NOT NULL, PRIMARY KEY (doc_id, tag)) WITHOUT ROWID;
      CREATE TABLE search_content (doc_id INTEGER PRIMARY KEY, markdown TEXT NOT NULL);
      CREATE VIRTUAL TABLE search_fts USING fts5 (markdown, content = 'search_content', content_rowid = 'doc_id',
        tokenize = 'porter unicode61 remove_diacritics 2');
      CREATE TABLE search_tombstones (lead_id TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO search_meta VALUES (7, 'old', '${v(3)}', '2024-05-01T00:00:00.000Z', 'warm', 40, NULL, NULL,
        NULL, '["vip"]');
      INSERT INTO search_tags VALUES (7, 'vip');
      INSERT INTO search_content VALUES (7, 'Keeps bees on a rooftop.');
      INSERT INTO search_fts (rowid, markdown) VALUES (7, 'Keeps bees on a rooftop.');
      INSERT INTO search_tombstones VALUES ('gone', '${v(5)}');
      PRAGMA user_version = 1;`);
    db.close();
    index = openSqliteSearchIndex({ file: legacy });
    expect((await index.search(query({ q: 'bees', tags: ['vip'] }))).hits.map((h) => h.leadId)).toEqual([
      'old',
    ]);
    expect(await index.upsert([doc('gone', 'late', {}, 4)])).toEqual({ applied: 0, stale: 1 });
    await index.upsert([doc('old', 'Now keeps goats.', {}, 4)]);
    expect((await index.search(query({ q: 'bees' }))).total).toBe(0);
    expect((await index.search(query({ q: 'goats' }))).hits.map((h) => h.leadId)).toEqual(['old']);
    await index.close();
    const check = new Database(legacy, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(2);
      expect(check.prepare(`SELECT name FROM sqlite_master WHERE name = 'search_content'`).all()).toEqual([]);
    } finally {
      check.close();
      index = openSqliteSearchIndex({ file });
    }
  });

  it('measures a raw FTS5 insert rate on the same documents', () => {
    const docs = Array.from({ length: 200 }, (_, i) => ({
      id: `d${i}`,
      markdown: `doc ${i} text `.repeat(50),
    }));
    const rate = rawFts5InsertRate(join(tmp.dir, 'raw.db'), docs, 64);
    expect(rate.docsPerSecond).toBeGreaterThan(0);
    expect(rate.elapsedMs).toBeGreaterThan(0);
    const db = new Database(join(tmp.dir, 'raw.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) AS n FROM raw_fts').get()).toEqual({ n: 200 });
      expect(db.prepare('SELECT count(*) AS n FROM raw_fts WHERE raw_fts MATCH ?').get('"d199"')).toEqual({
        n: 0,
      });
      expect(db.prepare('SELECT count(*) AS n FROM raw_fts WHERE raw_fts MATCH ?').get('"199"')).toEqual({
        n: 1,
      });
    } finally {
      db.close();
    }
  });
});
