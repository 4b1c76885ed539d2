import { openSqlite } from '../sqlite';

/**
 * The ceiling the search index is measured against: the same documents inserted into a bare FTS5 table (same
 * tokenizer, FTS5 keeping its own copy of the text, no metadata, no version guard) in transactions of
 * `batchSize`, with the same connection settings as the product. The table is recreated on every call.
 */
export function rawFts5InsertRate(
  file: string,
  docs: { id: string; markdown: string }[],
  batchSize = 1000,
): { docsPerSecond: number; elapsedMs: number } {
  const db = openSqlite(file, { synchronous: 'normal' });
  try {
    db.exec(`DROP TABLE IF EXISTS raw_fts;
      CREATE VIRTUAL TABLE raw_fts USING fts5 (id UNINDEXED, markdown, tokenize = 'porter unicode61 remove_diacritics 2');`);
    const insert = db.prepare('INSERT INTO raw_fts (id, markdown) VALUES (?, ?)');
    const insertBatch = db.transaction((batch: { id: string; markdown: string }[]) => {
      for (const doc of batch) insert.run(doc.id, doc.markdown);
    });
    const started = process.hrtime.bigint();
    for (let i = 0; i < docs.length; i += batchSize) insertBatch.immediate(docs.slice(i, i + batchSize));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    return { docsPerSecond: elapsedMs > 0 ? (docs.length * 1000) / elapsedMs : 0, elapsedMs };
  } finally {
    db.close();
  }
}
