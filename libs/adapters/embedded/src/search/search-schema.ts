import { immediate, SqliteDatabase } from '../sqlite';

const SCHEMA_VERSION = 2;

const TOKENIZER = `tokenize = 'porter unicode61 remove_diacritics 2'`;

/**
 * Three tables behind one FTS5 index:
 * - `search_meta`: one small row per lead (filters, facets, version guard). Kept apart from the text so
 *   filter-only listings and facet scans read compact pages. Its `doc_id` is the FTS5 rowid; new leads get
 *   higher ids, which is what the newest-first windows of large match sets rely on (see ADR 0009).
 * - `search_fts`: a contentless FTS5 index (`content = ''`): the markdown is tokenised but not stored, since
 *   the blob store already keeps it; `contentless_delete = 1` lets a document be deleted or replaced by rowid
 *   without the old text. Highlights are made from the hits' text by the caller's loader (PageHighlighter).
 * - `search_tags`: one row per (document, tag), so "has every tag" is an index lookup per tag.
 * `search_tombstones` remembers deletions, so a late older upsert cannot bring a deleted lead back.
 *
 * Tokenizer: `porter` stems English ("running" finds "run"); `unicode61` folds case and splits on Unicode
 * rather than ASCII classes, so accented and non-Latin names index as words; `remove_diacritics 2` lets
 * "cafe" find "café" (unlike 1, it also folds letters carrying several diacritics).
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
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5 (
  markdown, content = '', contentless_delete = 1, ${TOKENIZER}
);
CREATE TABLE IF NOT EXISTS search_tombstones (
  lead_id TEXT PRIMARY KEY,
  version TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * Version 1 kept the markdown a second time (`search_content`, the external content of `search_fts`). Its
 * index is rebuilt contentless from that copy, in the same transaction, and the copy dropped: no reindex from
 * the blobs is needed. The rebuild tokenises every document again (minutes at a million); the freed pages are
 * reused by later writes (`VACUUM` returns them to the file system).
 */
const MIGRATE_1_TO_2 = `
CREATE VIRTUAL TABLE search_fts_v2 USING fts5 (markdown, content = '', contentless_delete = 1, ${TOKENIZER});
INSERT INTO search_fts_v2 (rowid, markdown) SELECT doc_id, markdown FROM search_content;
DROP TABLE search_fts;
DROP TABLE search_content;
ALTER TABLE search_fts_v2 RENAME TO search_fts;
`;

/** Creates or upgrades the schema once; several processes may open the same file at the same time. */
export function ensureSearchSchema(db: SqliteDatabase): void {
  immediate(db, () => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`search index schema ${current} is newer than this code (${SCHEMA_VERSION})`);
    }
    if (current === SCHEMA_VERSION) return;
    if (current === 1) db.exec(MIGRATE_1_TO_2);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
}
