import { immediate, SqliteDatabase } from '../sqlite';

const SCHEMA_VERSION = 1;

/**
 * Three tables behind one FTS5 index:
 * - `search_meta`: one small row per lead (filters, facets, version guard). Kept apart from the markdown so
 *   filter-only listings and facet scans read compact pages instead of 10 KB rows with overflow chains.
 * - `search_content`: the indexed markdown, the external content of `search_fts`, so snippet() can read the
 *   text without FTS5 storing a second copy of it.
 * - `search_tags`: one row per (document, tag), so "has every tag" is an index lookup per tag.
 * `search_tombstones` remembers deletions, so a late older upsert cannot bring a deleted lead back.
 *
 * Tokenizer: `porter` stems English ("running" finds "run"); `unicode61` folds case and splits on Unicode
 * rather than ASCII classes, so accented and non-Latin names index as words; `remove_diacritics 2` lets
 * "cafe" find "café" (unlike 1, it also folds letters carrying several diacritics).
 *
 * No triggers keep `search_fts` in step with `search_content`: an FTS5 insert fired from a trigger (or fed by
 * INSERT ... SELECT) measured ~40% slower than the same insert with the text bound directly, so the adapter
 * maintains both tables itself.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS search_meta (
  doc_id INTEGER PRIMARY KEY,
  lead_id TEXT NOT NULL UNIQUE,
  version TEXT NOT NULL,
  saved_at TEXT NOT NULL,
  classification TEXT NOT NULL,
  age INTEGER,
  income REAL,
  location TEXT,
  location_key TEXT,
  tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_meta_saved_at ON search_meta (saved_at, lead_id);
CREATE INDEX IF NOT EXISTS search_meta_classification ON search_meta (classification, saved_at, lead_id);
CREATE INDEX IF NOT EXISTS search_meta_location ON search_meta (location_key, saved_at, lead_id);
CREATE INDEX IF NOT EXISTS search_meta_income ON search_meta (income);
CREATE INDEX IF NOT EXISTS search_meta_age ON search_meta (age);

CREATE TABLE IF NOT EXISTS search_tags (
  doc_id INTEGER NOT NULL REFERENCES search_meta (doc_id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (doc_id, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_tags_tag ON search_tags (tag, doc_id);

CREATE TABLE IF NOT EXISTS search_content (
  doc_id INTEGER PRIMARY KEY,
  markdown TEXT NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5 (
  markdown,
  content = 'search_content',
  content_rowid = 'doc_id',
  tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE IF NOT EXISTS search_tombstones (
  lead_id TEXT PRIMARY KEY,
  version TEXT NOT NULL
) WITHOUT ROWID;
`;

/** Creates the schema once; several processes may open the same file at the same time. */
export function ensureSearchSchema(db: SqliteDatabase): void {
  immediate(db, () => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`search index schema ${current} is newer than this code (${SCHEMA_VERSION})`);
    }
    if (current === SCHEMA_VERSION) return;
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
}
