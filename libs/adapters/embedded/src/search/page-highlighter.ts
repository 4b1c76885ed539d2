import Database from 'better-sqlite3';
import { ELLIPSIS, indexableText, MATCH_END, MATCH_START, snippetToHtml } from './snippet-html';

/** Tokens per highlight fragment. */
const SNIPPET_TOKENS = 24;
/** Characters of a query term looked for in the text to find where a fragment will come from. */
const PREFIX_CHARS = 4;
/** Characters kept before and after that place: a fragment of 24 tokens fits with room to choose. */
const EXCERPT_BEFORE = 200;
const EXCERPT_AFTER = 400;

/**
 * The part of `text` around the first place a query word seems to match. Tokenising a 10 KB document twice
 * (index, then snippet) per hit cost ~0.45 ms; a 600-character excerpt a fifth of that. When nothing looks
 * like a match (accents, irregular stems) the whole text is used; when the excerpt turns out not to match,
 * the caller retries with the whole text.
 */
function excerpt(text: string, patterns: RegExp[]): string {
  if (text.length <= EXCERPT_BEFORE + EXCERPT_AFTER) return text;
  for (const pattern of patterns) {
    const first = text.search(pattern);
    if (first >= 0) return text.slice(Math.max(0, first - EXCERPT_BEFORE), first + EXCERPT_AFTER);
  }
  return text;
}

/**
 * Where a matching word is looked for, in order: one of the query's words as written, in any case (found
 * whenever the text has the word itself), then a word starting like one (other forms of a stem).
 */
function excerptPatterns(match: string): RegExp[] {
  const terms = [...match.matchAll(/"([^"]*)"/g)].flatMap((m) => m[1].split(' ')).filter(Boolean);
  if (terms.length === 0) return [];
  // The terms hold letters, digits and marks only, so they need no escaping.
  const prefixes = terms.map((term) => [...term].slice(0, PREFIX_CHARS).join(''));
  const notWord = '(?<![\\p{L}\\p{N}\\p{M}])';
  return [
    new RegExp(`${notWord}(?:${terms.join('|')})(?![\\p{L}\\p{N}\\p{M}])`, 'iu'),
    new RegExp(`${notWord}(?:${prefixes.join('|')})`, 'iu'),
  ];
}

/**
 * Highlights for one page of hits, made from their text with FTS5's own snippet(): the index keeps no copy of
 * the text, so the page's documents are put in a small in-memory FTS5 table with the index's tokenizer and
 * matched again with the same expression. The fragments are then what the index itself would have chosen
 * (same stemming, folding and phrase rules); only the page is tokenised, never the whole match set.
 */
export class PageHighlighter {
  private readonly db = new Database(':memory:');
  private readonly statements;

  constructor() {
    this.db.exec(`
      CREATE TABLE page_text (id INTEGER PRIMARY KEY, markdown TEXT NOT NULL);
      CREATE VIRTUAL TABLE page_fts USING fts5 (
        markdown, content = 'page_text', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
      );`);
    const insertText = this.db.prepare('INSERT INTO page_text (id, markdown) VALUES (?, ?)');
    const insertFts = this.db.prepare('INSERT INTO page_fts (rowid, markdown) VALUES (?, ?)');
    const snippets = this.db.prepare<
      [string, string, string, number, string],
      { id: number; fragment: string }
    >(
      `SELECT rowid AS id, snippet(page_fts, 0, ?, ?, ?, ?) AS fragment FROM page_fts WHERE page_fts MATCH ?`,
    );
    const clear = this.db.prepare(`INSERT INTO page_fts (page_fts) VALUES ('delete-all')`);
    const clearText = this.db.prepare('DELETE FROM page_text');
    this.statements = this.db.transaction((texts: (string | null)[], match: string) => {
      texts.forEach((text, i) => {
        if (text === null) return;
        const indexable = indexableText(text);
        insertText.run(i, indexable);
        insertFts.run(i, indexable);
      });
      const found = snippets.all(MATCH_START, MATCH_END, ELLIPSIS, SNIPPET_TOKENS, match);
      clear.run();
      clearText.run();
      return found;
    });
  }

  /** One list of HTML fragments per text (empty where the text is missing or no longer matches). */
  highlight(match: string, texts: (string | null)[]): string[][] {
    const highlights: string[][] = texts.map(() => []);
    const patterns = excerptPatterns(match);
    const excerpts = texts.map((text) => (text === null ? null : excerpt(text, patterns)));
    // Any clause is marked: an excerpt need not hold all of a query's words, only the fragment's.
    const anyClause = (match.match(/"[^"]*"/g) ?? []).join(' OR ');
    const missed: number[] = [];
    for (const { id, fragment } of this.statements(excerpts, anyClause)) {
      if (fragment) highlights[id].push(snippetToHtml(fragment));
    }
    // An excerpt can miss (its words only looked like the query's): those texts are matched whole.
    excerpts.forEach((text, i) => {
      if (text !== null && text !== texts[i] && highlights[i].length === 0) missed.push(i);
    });
    if (missed.length > 0) {
      const whole = texts.map((text, i) => (missed.includes(i) ? text : null));
      for (const { id, fragment } of this.statements(whole, anyClause)) {
        if (fragment) highlights[id].push(snippetToHtml(fragment));
      }
    }
    return highlights;
  }

  close(): void {
    this.db.close();
  }
}
