import type Database from 'better-sqlite3';
import {
  ApplyResult,
  FacetCount,
  FacetField,
  SearchDocument,
  SearchHit,
  SearchIndex,
  SearchQuery,
  SearchResult,
} from '@twinstore/application';
import { Classification, Version } from '@twinstore/domain';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';
import { toFtsMatch } from './fts-query';
import { ensureSearchSchema } from './search-schema';
import { ELLIPSIS, indexableText, MATCH_END, MATCH_START, snippetToHtml } from './snippet-html';

type Statement = Database.Statement<unknown[]>;

/** Values per facet, most frequent first (Azure AI Search's default `count`, so both profiles agree). */
export const SEARCH_FACET_LIMIT = 10;
const STATEMENT_CACHE_SIZE = 256;
/** Tokens per highlight fragment. */
const SNIPPET_TOKENS = 24;

export interface OpenSqliteSearchIndexOptions {
  file: string;
}

interface MetaRow {
  doc_id: number;
  lead_id: string;
  version: string;
  classification: Classification;
  age: number | null;
  income: number | null;
  location: string | null;
  tags: string;
  rank_score: number | null;
}

interface AggregateRow {
  facet: 'total' | FacetField;
  value: string | null;
  n: number;
}

/** A WHERE clause as SQL text with placeholders only; the values travel separately as bound parameters. */
interface Condition {
  sql: string;
  params: unknown[];
}

const normaliseKey = (value: string) => value.normalize('NFC').trim().toLowerCase();

/** The full-text index of the embedded profile: SQLite FTS5, a rebuildable projection of the blob store. */
export class SqliteSearchIndex implements SearchIndex {
  private readonly statements;
  private readonly statementCache = new Map<string, Statement>();

  constructor(private readonly db: SqliteDatabase) {
    ensureSearchSchema(db);
    this.statements = {
      current: db.prepare<[string], { doc_id: number; version: string }>(
        'SELECT doc_id, version FROM search_meta WHERE lead_id = ?',
      ),
      tombstone: db
        .prepare<[string], string>('SELECT version FROM search_tombstones WHERE lead_id = ?')
        .pluck(),
      insertMeta: db.prepare(
        `INSERT INTO search_meta (lead_id, version, saved_at, classification, age, income, location, location_key, tags)
         VALUES (@leadId, @version, @savedAt, @classification, @age, @income, @location, @locationKey, @tags)`,
      ),
      updateMeta: db.prepare(
        `UPDATE search_meta SET version = @version, saved_at = @savedAt, classification = @classification,
           age = @age, income = @income, location = @location, location_key = @locationKey, tags = @tags
         WHERE doc_id = @docId`,
      ),
      deleteMeta: db.prepare('DELETE FROM search_meta WHERE doc_id = ?'),
      insertContent: db.prepare('INSERT INTO search_content (doc_id, markdown) VALUES (?, ?)'),
      updateContent: db.prepare('UPDATE search_content SET markdown = ? WHERE doc_id = ?'),
      deleteContent: db.prepare('DELETE FROM search_content WHERE doc_id = ?'),
      insertFts: db.prepare('INSERT INTO search_fts (rowid, markdown) VALUES (?, ?)'),
      indexedText: db
        .prepare<[number], string>('SELECT markdown FROM search_content WHERE doc_id = ?')
        .pluck(),
      deleteFts: db.prepare(`INSERT INTO search_fts (search_fts, rowid, markdown) VALUES ('delete', ?, ?)`),
      deleteTags: db.prepare('DELETE FROM search_tags WHERE doc_id = ?'),
      insertTag: db.prepare('INSERT OR IGNORE INTO search_tags (doc_id, tag) VALUES (?, ?)'),
      setTombstone: db.prepare(
        `INSERT INTO search_tombstones (lead_id, version) VALUES (?, ?)
         ON CONFLICT (lead_id) DO UPDATE SET version = excluded.version WHERE excluded.version > version`,
      ),
      version: db.prepare<[string], string>('SELECT version FROM search_meta WHERE lead_id = ?').pluck(),
      count: db.prepare<[], number>('SELECT count(*) FROM search_meta').pluck(),
      snippet: db
        .prepare<[string, string, string, number, string, bigint], string>(
          `SELECT snippet(search_fts, 0, ?, ?, ?, ?) FROM search_fts WHERE search_fts MATCH ? AND rowid = ?`,
        )
        .pluck(),
    };
  }

  async upsert(documents: SearchDocument[]): Promise<{ applied: number; stale: number }> {
    const newest = new Map<string, SearchDocument>();
    for (const doc of documents) {
      const seen = newest.get(doc.leadId);
      if (!seen || doc.version > seen.version) newest.set(doc.leadId, doc);
    }
    let applied = 0;
    immediate(this.db, () => {
      for (const doc of newest.values()) if (this.applyUpsert(doc)) applied++;
    });
    return { applied, stale: documents.length - applied };
  }

  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    return immediate(this.db, (): ApplyResult => {
      const s = this.statements;
      const tombstone = s.tombstone.get(leadId);
      if (tombstone !== undefined && version <= tombstone) return 'stale';
      const current = s.current.get(leadId);
      if (current && version <= current.version) return 'stale';
      if (current) {
        this.unindex(current.doc_id);
        s.deleteContent.run(current.doc_id);
        s.deleteTags.run(current.doc_id);
        s.deleteMeta.run(current.doc_id);
      }
      s.setTombstone.run(leadId, version);
      return 'applied';
    });
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const plan = planSearch(query);
    const rows = this.prepared(pageSql(plan)).all(...plan.params, query.top, query.skip) as MetaRow[];
    const hits = rows.map((row) => this.toHit(row, plan.match));

    // A short, non-empty page is the end of the result set, so its length gives the total for free.
    const totalKnown = rows.length > 0 && rows.length < query.top;
    const facets = [...new Set(query.facets)];
    if (facets.length > 0) return { hits, ...this.aggregate(plan, facets) };
    return { total: totalKnown ? query.skip + rows.length : this.countMatches(plan), hits, facets: {} };
  }

  async version(leadId: string): Promise<Version | null> {
    return (this.statements.version.get(leadId) as Version | undefined) ?? null;
  }

  async count(): Promise<number> {
    return this.statements.count.get() ?? 0;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    // Lets SQLite refresh planner statistics the workload showed it needs; cheap when nothing changed.
    this.db.pragma('optimize');
    this.db.close();
  }

  /** The query plan of `search(query)`'s page query, one line per step (for tests and diagnosis). */
  explainSearch(query: SearchQuery): string[] {
    const plan = planSearch(query);
    return this.db
      .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${pageSql(plan)}`)
      .all(...plan.params, query.top, query.skip)
      .map((r) => r.detail);
  }

  private applyUpsert(doc: SearchDocument): boolean {
    const s = this.statements;
    const tombstone = s.tombstone.get(doc.leadId);
    if (tombstone !== undefined && doc.version <= tombstone) return false;
    const current = s.current.get(doc.leadId);
    if (current && doc.version <= current.version) return false;

    const meta = doc.metadata;
    const tags = [...new Set(meta.tags.map(normaliseKey))];
    const row = {
      leadId: doc.leadId,
      version: doc.version,
      savedAt: doc.savedAt,
      classification: meta.classification,
      age: meta.age ?? null,
      income: meta.income ?? null,
      location: meta.location ?? null,
      locationKey: meta.location === undefined ? null : normaliseKey(meta.location),
      tags: JSON.stringify(tags),
    };
    const text = indexableText(doc.markdown);
    let docId: number;
    if (current) {
      docId = current.doc_id;
      s.updateMeta.run({ ...row, docId });
      this.unindex(docId);
      s.updateContent.run(text, docId);
      s.deleteTags.run(docId);
    } else {
      docId = Number(s.insertMeta.run(row).lastInsertRowid);
      s.insertContent.run(docId, text);
    }
    s.insertFts.run(docId, text);
    for (const tag of tags) s.insertTag.run(docId, tag);
    return true;
  }

  /**
   * Takes a document's terms out of the external-content index. FTS5 finds them by re-tokenising the OLD text,
   * so this must run before the content row changes. The text is read and bound from JavaScript because
   * `INSERT INTO search_fts ... SELECT ... FROM search_content` (and a trigger) measured ~40% slower.
   */
  private unindex(docId: number): void {
    const old = this.statements.indexedText.get(docId);
    if (old !== undefined) this.statements.deleteFts.run(docId, old);
  }

  private toHit(row: MetaRow, match: string | null): SearchHit {
    const hit: SearchHit = {
      leadId: row.lead_id,
      version: row.version as Version,
      // bm25() is negative, lower is better; the port's score is "higher is better" like Azure's.
      score: row.rank_score === null ? 1 : -row.rank_score,
      highlights: [],
      classification: row.classification,
      tags: JSON.parse(row.tags) as string[],
    };
    if (row.age !== null) hit.age = row.age;
    if (row.income !== null) hit.income = row.income;
    if (row.location !== null) hit.location = row.location;
    if (match !== null) {
      // Only for the page: snippet() re-reads and re-tokenises the document, far too costly for every match.
      const fragment = this.statements.snippet.get(
        MATCH_START,
        MATCH_END,
        ELLIPSIS,
        SNIPPET_TOKENS,
        match,
        // A JS number binds as REAL, and FTS5 then ignores `rowid = ?` (every hit got the first document's
        // snippet); a BigInt binds as INTEGER.
        BigInt(row.doc_id),
      );
      if (fragment) hit.highlights.push(snippetToHtml(fragment));
    }
    return hit;
  }

  private countMatches(plan: SearchPlan): number {
    // Without filters the metadata join adds nothing to a count, and FTS5 counts its own matches much faster.
    const sql =
      plan.match !== null && !plan.filtered
        ? 'SELECT count(*) FROM search_fts WHERE search_fts MATCH ?'
        : `SELECT count(*) FROM ${plan.from} ${plan.where}`;
    return (
      (this.prepared(sql)
        .pluck()
        .get(...plan.params) as number | undefined) ?? 0
    );
  }

  /**
   * Search SQL varies only with which filters are present, so compiled statements are kept and reused;
   * the bound values never enter the text, so the cache stays small.
   */
  private prepared(sql: string): Statement {
    let statement = this.statementCache.get(sql);
    if (!statement) {
      if (this.statementCache.size >= STATEMENT_CACHE_SIZE) this.statementCache.clear();
      statement = this.db.prepare<unknown[]>(sql);
      this.statementCache.set(sql, statement);
    }
    return statement;
  }

  /** Total and facet counts over the whole filtered result set, from one evaluation of the match. */
  private aggregate(
    plan: SearchPlan,
    facets: FacetField[],
  ): { total: number; facets: SearchResult['facets'] } {
    const parts = [`SELECT 'total' AS facet, NULL AS value, count(*) AS n FROM matched`];
    if (facets.includes('classification')) {
      parts.push(`SELECT 'classification', classification, count(*) FROM matched GROUP BY classification`);
    }
    if (facets.includes('location')) {
      // Locations match case-insensitively, so they are counted that way; one original spelling is shown.
      parts.push(
        `SELECT 'location', min(location), count(*) FROM matched WHERE location_key IS NOT NULL GROUP BY location_key`,
      );
    }
    if (facets.includes('tags')) {
      parts.push(
        `SELECT 'tags', t.tag, count(*) FROM matched CROSS JOIN search_tags AS t ON t.doc_id = matched.doc_id GROUP BY t.tag`,
      );
    }
    const rows = this.prepared(
      `WITH matched AS MATERIALIZED (
         SELECT m.doc_id, m.classification, m.location, m.location_key FROM ${plan.from} ${plan.where}
       )
       ${parts.join(' UNION ALL ')}`,
    ).all(...plan.params) as AggregateRow[];

    let total = 0;
    const counts: Partial<Record<FacetField, FacetCount[]>> = {};
    for (const facet of facets) counts[facet] = [];
    for (const row of rows) {
      if (row.facet === 'total') total = row.n;
      else counts[row.facet]?.push({ value: row.value ?? '', count: row.n });
    }
    for (const facet of facets) {
      counts[facet] = counts[facet]!.sort(
        (a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
      ).slice(0, SEARCH_FACET_LIMIT);
    }
    return { total, facets: counts };
  }
}

interface SearchPlan {
  /** The FTS5 MATCH expression, or null for a filter-only listing. */
  match: string | null;
  /** Whether any metadata filter applies. */
  filtered: boolean;
  from: string;
  where: string;
  order: string;
  params: unknown[];
}

const PAGE_COLUMNS = 'm.doc_id, m.lead_id, m.version, m.classification, m.age, m.income, m.location, m.tags';

function planSearch(query: SearchQuery): SearchPlan {
  const match = toFtsMatch(query.q);
  const conditions = filterConditions(query);
  const filtered = conditions.length > 0;
  if (match !== null) conditions.unshift({ sql: 'search_fts MATCH ?', params: [match] });
  return {
    match,
    filtered,
    // With text, FTS5 must drive: `CROSS JOIN` fixes the join order, because a plain JOIN lets the planner
    // start from a metadata index and probe the full-text index per row (median 255 ms, worst 43 s, in
    // FACTS.md). Without text the metadata table drives, through its indexes.
    from:
      match !== null
        ? 'search_fts CROSS JOIN search_meta AS m ON m.doc_id = search_fts.rowid'
        : 'search_meta AS m',
    where: conditions.length > 0 ? `WHERE ${conditions.map((c) => c.sql).join(' AND ')}` : '',
    order: match !== null ? 'ORDER BY rank_score, m.lead_id' : 'ORDER BY m.saved_at DESC, m.lead_id DESC',
    params: conditions.flatMap((c) => c.params),
  };
}

function pageSql(plan: SearchPlan): string {
  const score = plan.match !== null ? 'bm25(search_fts)' : 'NULL';
  return `SELECT ${PAGE_COLUMNS}, ${score} AS rank_score FROM ${plan.from} ${plan.where} ${plan.order} LIMIT ? OFFSET ?`;
}

function filterConditions(query: SearchQuery): Condition[] {
  const conditions: Condition[] = [];
  const classes = [...new Set(query.classification ?? [])];
  if (classes.length > 0) {
    conditions.push({ sql: `m.classification IN (${classes.map(() => '?').join(', ')})`, params: classes });
  }
  if (query.minIncome !== undefined) conditions.push({ sql: 'm.income >= ?', params: [query.minIncome] });
  if (query.maxIncome !== undefined) conditions.push({ sql: 'm.income <= ?', params: [query.maxIncome] });
  if (query.minAge !== undefined) conditions.push({ sql: 'm.age >= ?', params: [query.minAge] });
  if (query.maxAge !== undefined) conditions.push({ sql: 'm.age <= ?', params: [query.maxAge] });
  if (query.location !== undefined) {
    conditions.push({ sql: 'm.location_key = ?', params: [normaliseKey(query.location)] });
  }
  for (const tag of new Set((query.tags ?? []).map(normaliseKey))) {
    conditions.push({ sql: 'm.doc_id IN (SELECT doc_id FROM search_tags WHERE tag = ?)', params: [tag] });
  }
  return conditions;
}

/** Opens (creating if needed) the search index in a SQLite file; `normal` sync: it can be rebuilt from blobs. */
export function openSqliteSearchIndex(options: OpenSqliteSearchIndexOptions): SqliteSearchIndex {
  return new SqliteSearchIndex(openSqlite(options.file, { synchronous: 'normal' }));
}
