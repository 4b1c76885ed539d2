import { openSqlite } from '../sqlite';

export interface RawFts5InsertReport {
  docs: number;
  /** Documents per second of wall-clock time spent inside the insert transactions. */
  docsPerSecond: number;
  /** That time: producing the documents (e.g. generating personas) is not part of it. */
  elapsedMs: number;
  /** UTF-8 bytes of the markdown inserted. */
  markdownBytes: number;
}

/**
 * The ceiling the search index is measured against: the same documents inserted into a bare contentless FTS5
 * table (`content = ''`: the index alone, no copy of the text; same tokenizer; no metadata, no version guard;
 * the rowid is the document's 1-based position) in transactions of `batchSize`, with the same connection
 * settings as the product. The table is recreated on every call. `docs` may be a generator: only one batch is
 * held at a time, so a million documents take no more memory than a thousand.
 */
export function rawFts5InsertRate(
  file: string,
  docs: Iterable<{ markdown: string }>,
  batchSize = 1000,
): RawFts5InsertReport {
  const db = openSqlite(file, { synchronous: 'normal' });
  try {
    db.exec(`DROP TABLE IF EXISTS raw_fts;
      CREATE VIRTUAL TABLE raw_fts USING fts5 (markdown, content = '', ${RAW_FTS5_TOKENIZER});`);
    const insert = db.prepare('INSERT INTO raw_fts (rowid, markdown) VALUES (?, ?)');
    const insertBatch = db.transaction((batch: string[], first: number) => {
      batch.forEach((markdown, i) => insert.run(first + i, markdown));
    });
    let elapsedNs = 0n;
    let count = 0;
    let markdownBytes = 0;
    let batch: string[] = [];
    const flush = () => {
      const started = process.hrtime.bigint();
      insertBatch.immediate(batch, count + 1);
      elapsedNs += process.hrtime.bigint() - started;
      count += batch.length;
      batch = [];
    };
    for (const doc of docs) {
      batch.push(doc.markdown);
      markdownBytes += Buffer.byteLength(doc.markdown);
      if (batch.length >= batchSize) flush();
    }
    if (batch.length > 0) flush();
    const elapsedMs = Number(elapsedNs) / 1e6;
    return {
      docs: count,
      docsPerSecond: elapsedMs > 0 ? (count * 1000) / elapsedMs : 0,
      elapsedMs,
      markdownBytes,
    };
  } finally {
    db.close();
  }
}

/** The tokenizer of the product's index, so both tables hold the same terms. */
export const RAW_FTS5_TOKENIZER = `tokenize = 'porter unicode61 remove_diacritics 2'`;

/** Queries on a table built by `rawFts5InsertRate`: the raw engine's side of a search-latency comparison. */
export interface RawFts5Reader {
  /** Rowids of the best `top` matches of an FTS5 expression by bm25 (what `ORDER BY rank` gives). */
  top(match: string, top: number): number[];
  /** Documents matching, counted up to `cap` (a capped count stays cheap for very common terms). */
  countUpTo(match: string, cap: number): number;
  close(): void;
}

export function openRawFts5(file: string): RawFts5Reader {
  const db = openSqlite(file, { synchronous: 'normal' });
  const top = db.prepare<[string, number], number>(
    'SELECT rowid FROM raw_fts WHERE raw_fts MATCH ? ORDER BY rank LIMIT ?',
  );
  const capped = db.prepare<[string, number], number>(
    'SELECT count(*) FROM (SELECT 1 FROM raw_fts WHERE raw_fts MATCH ? LIMIT ?)',
  );
  return {
    top: (match, n) => top.pluck().all(match, n),
    countUpTo: (match, cap) => capped.pluck().get(match, cap) ?? 0,
    close: () => db.close(),
  };
}
