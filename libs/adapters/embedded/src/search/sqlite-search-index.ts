import type Database from 'better-sqlite3';
import {
  ApplyResult,
  FacetCount,
  FacetField,
  SearchDocument,
  SearchHit,
  SearchIndex,
  SearchOptions,
  SearchQuery,
  SearchResult,
} from '@twinstore/application';
import { Classification, Version } from '@twinstore/domain';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';
import { toFtsClauses, toFtsMatch } from './fts-query';
import { ensureSearchSchema } from './search-schema';
import { PageHighlighter } from './page-highlighter';
import { indexableText } from './snippet-html';

type Statement = Database.Statement<unknown[]>;

/** Values per facet, most frequent first (Azure AI Search's default `count`, so both profiles agree). */
export const SEARCH_FACET_LIMIT = 10;
const STATEMENT_CACHE_SIZE = 256;
/**
 * Text match sets up to this size are ranked, counted and faceted exactly; above it, ranking, totals and
 * facets work on newest-first windows of the index (ADR 0009). Telling the two apart costs at most this many
 * rowids read by FTS5, without scoring.
 */
const EXACT_TEXT_MATCHES = 500;
/**
 * Documents containing the query's clauses, summed over the clauses, above which bm25() is not used: its IDF
 * step reads them all (about 0.15 us each on this machine, so ~3 ms at the budget).
 */
export const BM25_POSTINGS_BUDGET = 20_000;
/** Text matches the sample window for a large match set's total and facets aims to hold (counted, unscored). */
const WINDOW_TEXT_MATCHES = 1000;
/**
 * Text matches the first ranking window aims to hold (bm25 costs ~2 us per scored match): a full page with
 * room for filters; the window grows when the filters leave too few.
 */
const PAGE_WINDOW_MATCHES = 200;
/**
 * Unscored text under filters matching at most this many documents is checked document by document, from
 * the filter side (see filterDriven).
 */
const FILTER_DRIVEN_DOCS = 500;
/** How much a window grows when it held too few filtered hits for the page. */
const WINDOW_GROWTH = 4;
/** Filter-only listings: matches counted exactly up to this many, estimated from a sample above it. */
const EXACT_LISTING_MATCHES = 2000;
/** The newest documents a listing's total and facets are estimated from. */
const LISTING_SAMPLE_DOCS = 5000;

export interface OpenSqliteSearchIndexOptions {
  file: string;
  /** BM25_POSTINGS_BUDGET unless given (tests reach the newest-first plan with a small corpus this way). */
  bm25PostingsBudget?: number;
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
  private readonly highlighter = new PageHighlighter();

  constructor(
    private readonly db: SqliteDatabase,
    private readonly bm25PostingsBudget = BM25_POSTINGS_BUDGET,
  ) {
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
      insertFts: db.prepare('INSERT INTO search_fts (rowid, markdown) VALUES (?, ?)'),
      // contentless_delete: the old text is not needed to take a document out of the index.
      deleteFts: db.prepare('DELETE FROM search_fts WHERE rowid = ?'),
      deleteTags: db.prepare('DELETE FROM search_tags WHERE doc_id = ?'),
      insertTag: db.prepare('INSERT OR IGNORE INTO search_tags (doc_id, tag) VALUES (?, ?)'),
      setTombstone: db.prepare(
        `INSERT INTO search_tombstones (lead_id, version) VALUES (?, ?)
         ON CONFLICT (lead_id) DO UPDATE SET version = excluded.version WHERE excluded.version > version`,
      ),
      version: db.prepare<[string], string>('SELECT version FROM search_meta WHERE lead_id = ?').pluck(),
      count: db.prepare<[], number>('SELECT count(*) FROM search_meta').pluck(),
      span: db.prepare<[], { low: number | null; high: number | null }>(
        // Two subqueries: SQLite answers a lone min() or max() from the end of the index, but both in one
        // SELECT scan the table.
        'SELECT (SELECT min(doc_id) FROM search_meta) AS low, (SELECT max(doc_id) FROM search_meta) AS high',
      ),
      // Newest first, unscored and capped: tells a small match set from a large one, and how dense it is.
      probe: db.prepare<[string, number], { n: number; low: number | null }>(
        `SELECT count(*) AS n, min(rowid) AS low FROM (
           SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid DESC LIMIT ?
         )`,
      ),
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
        s.deleteFts.run(current.doc_id);
        s.deleteTags.run(current.doc_id);
        s.deleteMeta.run(current.doc_id);
      }
      s.setTombstone.run(leadId, version);
      return 'applied';
    });
  }

  async search(query: SearchQuery, options: SearchOptions = {}): Promise<SearchResult> {
    const match = toFtsMatch(query.q);
    const facets = [...new Set(query.facets)];
    const filters = filterConditions(query);
    const span = this.statements.span.get();
    if (!span || span.low === null || span.high === null) {
      return { total: 0, hits: [], facets: Object.fromEntries(facets.map((f) => [f, []])) };
    }
    const found =
      match === null
        ? this.list(query, filters, facets, { low: span.low, high: span.high })
        : this.rank(query, toFtsClauses(query.q), filters, facets, { low: span.low, high: span.high });
    const hits = found.rows.map(toHit);
    if (match !== null && options.hitText && hits.length > 0) {
      const texts = await options.hitText(hits.map((h) => ({ leadId: h.leadId, version: h.version })));
      this.highlighter.highlight(match, texts).forEach((fragments, i) => (hits[i].highlights = fragments));
    }
    const result: SearchResult = { total: found.total, hits, facets: found.facets };
    if (found.estimate) result.totalIsEstimate = true;
    return result;
  }

  async version(leadId: string): Promise<Version | null> {
    return (this.statements.version.get(leadId) as Version | undefined) ?? null;
  }

  async count(): Promise<number> {
    return this.statements.count.get() ?? 0;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.highlighter.close();
    // Lets SQLite refresh planner statistics the workload showed it needs; cheap when nothing changed.
    this.db.pragma('optimize');
    this.db.close();
  }

  /** The query plan of `search(query)`'s page query over the whole index (for tests and diagnosis). */
  explainSearch(query: SearchQuery, options: { fromDocId?: number } = {}): string[] {
    const sql = planSql(toFtsMatch(query.q), filterConditions(query), options.fromDocId ?? null);
    return this.db
      .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${pageSql(sql)}`)
      .all(...sql.params, query.top, query.skip)
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
    let docId: number;
    if (current) {
      docId = current.doc_id;
      s.updateMeta.run({ ...row, docId });
      s.deleteFts.run(docId);
      s.deleteTags.run(docId);
    } else {
      docId = Number(s.insertMeta.run(row).lastInsertRowid);
    }
    s.insertFts.run(docId, indexableText(doc.markdown));
    for (const tag of tags) s.insertTag.run(docId, tag);
    return true;
  }

  /**
   * A text query. bm25() first counts, for every clause, all the documents that contain it (its IDF): a cost
   * that grows with N whatever else limits the query. So each clause's document frequency is estimated first
   * (a capped, unscored, newest-first read of its rowids), and:
   * - if the clauses' frequencies sum to at most BM25_POSTINGS_BUDGET, hits are ranked by bm25: over all the
   *   matches when they are few (under EXACT_TEXT_MATCHES), else inside a window of the newest documents
   *   holding about PAGE_WINDOW_MATCHES matches (or 4 pages), widened until the page is full;
   * - otherwise (a clause in a large share of the index, whose IDF is near zero anyway) hits come newest
   *   first, unscored, which FTS5 reads straight off its doclists.
   * A large match set's total and facets are counted in a window of the newest matches and scaled up.
   * See ADR 0009.
   */
  private rank(
    query: SearchQuery,
    clauses: string[],
    filters: Condition[],
    facets: FacetField[],
    span: Span,
  ): Found {
    const match = clauses.join(' ');
    const size = span.high - span.low + 1;
    const estimate = (probe: Probe) =>
      probe.n < EXACT_TEXT_MATCHES ? probe.n : (probe.n / (span.high - probe.low! + 1)) * size;
    const probes = clauses.map((clause) => this.probe(clause));
    const scored = probes.reduce((sum, p) => sum + estimate(p), 0) <= this.bm25PostingsBudget;
    const whole = clauses.length === 1 ? probes[0] : this.probe(match);
    const order = scored ? 'rank' : 'recency';
    if (!scored && whole.n >= EXACT_TEXT_MATCHES && filters.length > 0) {
      const filtered = planSql(null, filters, null);
      const few = this.prepared(
        `SELECT count(*) FROM (SELECT 1 FROM ${filtered.from} ${filtered.where} LIMIT ?)`,
      )
        .pluck()
        .get(...filtered.params, FILTER_DRIVEN_DOCS + 1) as number;
      if (few <= FILTER_DRIVEN_DOCS) return this.filterDriven(query, match, filters, facets);
    }
    if (whole.n < EXACT_TEXT_MATCHES) {
      return this.exact(query, planSql(match, filters, null, order), facets, filters.length === 0);
    }
    const density = whole.n / (span.high - whole.low! + 1);
    const sampleFrom = span.high - Math.ceil(WINDOW_TEXT_MATCHES / density) + 1;
    let rows: MetaRow[];
    if (scored) {
      let width = Math.ceil(Math.max(PAGE_WINDOW_MATCHES, 4 * (query.skip + query.top)) / density);
      for (;;) {
        const from = span.high - width + 1;
        const all = from <= span.low;
        const sql = planSql(match, filters, all ? null : from, order);
        rows = this.prepared(pageSql(sql)).all(...sql.params, query.top, query.skip) as MetaRow[];
        if (all || rows.length === query.top) break;
        width *= WINDOW_GROWTH;
      }
    } else {
      // FTS5 walks the doclists from the newest rowid down and stops once the page is full.
      const sql = planSql(match, filters, null, order);
      rows = this.prepared(pageSql(sql)).all(...sql.params, query.top, query.skip) as MetaRow[];
    }
    const sample = this.aggregate(planSql(match, filters, sampleFrom, order), facets, filters.length === 0);
    const scale = size / (span.high - sampleFrom + 1);
    return {
      rows,
      // A short page ends the result set; what it shows exists even if the sample held none of it.
      total: Math.max(Math.round(sample.total * scale), rows.length > 0 ? query.skip + rows.length : 0),
      facets: scaleFacets(sample.facets, scale),
      estimate: true,
    };
  }

  /**
   * Common text under a selective filter, unscored: the few filtered documents are each checked against the
   * text (FTS5 seeks the rowid in every clause's doclist, ~60 us per document), which beats walking the text's
   * matches until enough of them pass the filter. Everything is then exact.
   */
  private filterDriven(query: SearchQuery, match: string, filters: Condition[], facets: FacetField[]): Found {
    const where = [...filters.map((c) => c.sql), 'search_fts MATCH ?'].join(' AND ');
    const ids = this.prepared(
      `SELECT m.doc_id FROM search_meta AS m CROSS JOIN search_fts ON search_fts.rowid = m.doc_id WHERE ${where}`,
    )
      .pluck()
      .all(...filters.flatMap((c) => c.params), match) as number[];
    const sql: PlanSql = {
      scored: false,
      from: 'search_meta AS m',
      where: 'WHERE m.doc_id IN (SELECT value FROM json_each(?))',
      order: 'ORDER BY m.doc_id DESC',
      params: [JSON.stringify(ids)],
    };
    const rows = this.prepared(pageSql(sql)).all(...sql.params, query.top, query.skip) as MetaRow[];
    return { rows, ...this.aggregate(sql, facets, false), estimate: false };
  }

  private probe(match: string): Probe {
    return this.statements.probe.get(match, EXACT_TEXT_MATCHES) ?? { n: 0, low: null };
  }

  /**
   * A filter-only listing, newest first through the metadata indexes. Totals and facets are exact up to
   * EXACT_LISTING_MATCHES matches; above that they are counted over the newest LISTING_SAMPLE_DOCS documents
   * and scaled up, since an exact count would read every matching row.
   */
  private list(query: SearchQuery, filters: Condition[], facets: FacetField[], span: Span): Found {
    const sql = planSql(null, filters, null);
    const rows = this.prepared(pageSql(sql)).all(...sql.params, query.top, query.skip) as MetaRow[];
    const pageEnds = rows.length > 0 && rows.length < query.top;
    if (pageEnds && facets.length === 0)
      return { rows, total: query.skip + rows.length, facets: {}, estimate: false };
    const capped = this.prepared(`SELECT count(*) FROM (SELECT 1 FROM ${sql.from} ${sql.where} LIMIT ?)`)
      .pluck()
      .get(...sql.params, EXACT_LISTING_MATCHES) as number;
    if (capped < EXACT_LISTING_MATCHES) {
      return { rows, ...this.aggregate(sql, facets, false), estimate: false };
    }
    const sampleFrom = Math.max(span.low, span.high - LISTING_SAMPLE_DOCS + 1);
    const sample = this.aggregate(planSql(null, filters, sampleFrom), facets, false);
    const scale = (span.high - span.low + 1) / (span.high - sampleFrom + 1);
    return {
      rows,
      total: Math.max(Math.round(sample.total * scale), EXACT_LISTING_MATCHES),
      facets: scaleFacets(sample.facets, scale),
      estimate: true,
    };
  }

  /** Ranking, total and facets over the whole (small) match set. */
  private exact(query: SearchQuery, sql: PlanSql, facets: FacetField[], textOnly: boolean): Found {
    const rows = this.prepared(pageSql(sql)).all(...sql.params, query.top, query.skip) as MetaRow[];
    // A short, non-empty page is the end of the result set, so its length gives the total for free.
    if (rows.length > 0 && rows.length < query.top && facets.length === 0) {
      return { rows, total: query.skip + rows.length, facets: {}, estimate: false };
    }
    return { rows, ...this.aggregate(sql, facets, textOnly), estimate: false };
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

  /** Total and facet counts over a (possibly windowed) match set, from one evaluation of the match. */
  private aggregate(
    sql: PlanSql,
    facets: FacetField[],
    textOnly: boolean,
  ): { total: number; facets: SearchResult['facets'] } {
    if (facets.length === 0) {
      // Without filters the metadata join adds nothing to a count, and FTS5 counts its own matches faster.
      const count = textOnly
        ? `SELECT count(*) FROM search_fts ${sql.where}`
        : `SELECT count(*) FROM ${sql.from} ${sql.where}`;
      return {
        total:
          (this.prepared(count)
            .pluck()
            .get(...sql.params) as number | undefined) ?? 0,
        facets: {},
      };
    }
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
         SELECT m.doc_id, m.classification, m.location, m.location_key FROM ${sql.from} ${sql.where}
       )
       ${parts.join(' UNION ALL ')}`,
    ).all(...sql.params) as AggregateRow[];
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

interface Probe {
  /** Matches among the newest, up to EXACT_TEXT_MATCHES. */
  n: number;
  /** The lowest rowid among them. */
  low: number | null;
}

interface Span {
  low: number;
  high: number;
}

interface Found {
  rows: MetaRow[];
  total: number;
  facets: SearchResult['facets'];
  estimate: boolean;
}

interface PlanSql {
  /** Whether hits are scored with bm25(). */
  scored: boolean;
  from: string;
  where: string;
  order: string;
  params: unknown[];
}

const PAGE_COLUMNS = 'm.doc_id, m.lead_id, m.version, m.classification, m.age, m.income, m.location, m.tags';

/**
 * The FROM/WHERE/ORDER of a search, over the whole index or over documents from `fromDocId` on. Text is
 * ordered by bm25 (`rank`) or newest first (`recency`); a listing by save time.
 */
function planSql(
  match: string | null,
  filters: Condition[],
  fromDocId: number | null,
  order: 'rank' | 'recency' = 'rank',
): PlanSql {
  const conditions = [...filters];
  if (match !== null) {
    // FTS5 takes a rowid lower bound with the MATCH and reads only that part of each doclist.
    // A JS number binds as REAL, which FTS5 does not take as a rowid bound (it then reads whole doclists,
    // 30x slower); a BigInt binds as INTEGER.
    if (fromDocId !== null) conditions.unshift({ sql: 'search_fts.rowid >= ?', params: [BigInt(fromDocId)] });
    conditions.unshift({ sql: 'search_fts MATCH ?', params: [match] });
  } else if (fromDocId !== null) {
    conditions.unshift({ sql: 'm.doc_id >= ?', params: [fromDocId] });
  }
  return {
    scored: match !== null && order === 'rank',
    // With text, FTS5 must drive: `CROSS JOIN` fixes the join order, because a plain JOIN lets the planner
    // start from a metadata index and probe the full-text index per row (median 255 ms, worst 43 s, in
    // FACTS.md). Without text the metadata table drives, through its indexes.
    from:
      match !== null
        ? 'search_fts CROSS JOIN search_meta AS m ON m.doc_id = search_fts.rowid'
        : 'search_meta AS m',
    where: conditions.length > 0 ? `WHERE ${conditions.map((c) => c.sql).join(' AND ')}` : '',
    order:
      match === null
        ? 'ORDER BY m.saved_at DESC, m.lead_id DESC'
        : order === 'rank'
          ? 'ORDER BY rank_score, m.lead_id'
          : 'ORDER BY search_fts.rowid DESC',
    params: conditions.flatMap((c) => c.params),
  };
}

function pageSql(sql: PlanSql): string {
  const score = sql.scored ? 'bm25(search_fts)' : 'NULL';
  return `SELECT ${PAGE_COLUMNS}, ${score} AS rank_score FROM ${sql.from} ${sql.where} ${sql.order} LIMIT ? OFFSET ?`;
}

function scaleFacets(facets: SearchResult['facets'], scale: number): SearchResult['facets'] {
  const scaled: SearchResult['facets'] = {};
  for (const [field, counts] of Object.entries(facets) as [FacetField, FacetCount[]][]) {
    scaled[field] = counts.map((c) => ({ value: c.value, count: Math.max(1, Math.round(c.count * scale)) }));
  }
  return scaled;
}

function toHit(row: MetaRow): SearchHit {
  const hit: SearchHit = {
    leadId: row.lead_id,
    version: row.version as Version,
    // bm25() is negative, lower is better; the port's score is "higher is better" like Azure's. Unscored hits
    // (listings, newest-first text) all score 1.
    score: row.rank_score === null ? 1 : -row.rank_score,
    highlights: [],
    classification: row.classification,
    tags: JSON.parse(row.tags) as string[],
  };
  if (row.age !== null) hit.age = row.age;
  if (row.income !== null) hit.income = row.income;
  if (row.location !== null) hit.location = row.location;
  return hit;
}

/**
 * The filters as conditions. Several classifications and the income and age ranges typically keep a large
 * share of the twins: their indexes are kept out of the plan (unary `+`), so a listing walks the save-time
 * index newest first and stops at the page, instead of collecting every row in range and sorting it (140 ms
 * at 100k). Equality on one classification or location keeps its index, which is ordered by save time too.
 */
function filterConditions(query: SearchQuery): Condition[] {
  const conditions: Condition[] = [];
  const classes = [...new Set(query.classification ?? [])];
  if (classes.length > 0) {
    const column = classes.length === 1 ? 'm.classification' : '+m.classification';
    conditions.push({ sql: `${column} IN (${classes.map(() => '?').join(', ')})`, params: classes });
  }
  if (query.minIncome !== undefined) conditions.push({ sql: '+m.income >= ?', params: [query.minIncome] });
  if (query.maxIncome !== undefined) conditions.push({ sql: '+m.income <= ?', params: [query.maxIncome] });
  if (query.minAge !== undefined) conditions.push({ sql: '+m.age >= ?', params: [query.minAge] });
  if (query.maxAge !== undefined) conditions.push({ sql: '+m.age <= ?', params: [query.maxAge] });
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
  const db = openSqlite(options.file, { synchronous: 'normal' });
  // The doclist pages of common words are read by most queries; with SQLite's default 2 MB page cache they
  // were read again from the OS on every query (measured: several times the CPU of the query itself).
  db.pragma(`cache_size = -${SEARCH_CACHE_KIB}`);
  return new SqliteSearchIndex(db, options.bm25PostingsBudget);
}

/** Page cache of a search connection, in KiB. */
const SEARCH_CACHE_KIB = 64 * 1024;
