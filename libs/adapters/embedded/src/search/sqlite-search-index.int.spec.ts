import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SearchDocument, SearchQuery } from '@twinstore/application';
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
    await index.upsert([doc('a', 'She was running a café in Montréal.'), doc('b', 'Nothing relevant.')]);
    expect((await index.search(query({ q: 'runs' }))).hits.map((h) => h.leadId)).toEqual(['a']);
    expect((await index.search(query({ q: 'cafe montreal' }))).hits.map((h) => h.leadId)).toEqual(['a']);
    const [hit] = (await index.search(query({ q: 'cafe' }))).hits;
    expect(hit.highlights[0]).toContain('<em>café</em>');
  });

  it('cannot be made to emit markup by control characters in the markdown', async () => {
    await index.upsert([doc('a', 'Evil \u0002script\u0003 and \u0002 walrus \u0003 text')]);
    const [hit] = (await index.search(query({ q: 'walrus' }))).hits;
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
