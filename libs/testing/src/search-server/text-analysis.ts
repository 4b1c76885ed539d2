/**
 * A small imitation of the service's analyzers: enough to index and match text the way a test expects, not a
 * linguistic engine. Tokens are runs of letters, digits and combining marks, lowercased; the English
 * analyzers also drop Lucene's English stop words. No stemming, no ASCII folding beyond what is named, no
 * word segmentation of CJK text (a run of ideographs is one token).
 */
export interface AnalyzedToken {
  term: string;
  /** Token position, counting removed stop words, so phrase adjacency stays right. */
  position: number;
  /** UTF-16 offsets of the token in the original text, for highlighting. */
  start: number;
  end: number;
}

/** Lucene's EnglishAnalyzer stop set, used by `en.lucene` (and, approximately, `en.microsoft`). */
const ENGLISH_STOP_WORDS = new Set([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
]);

/** The standard tokenizer's maximum token length: longer runs are split, as Lucene does. */
const MAX_TOKEN_LENGTH = 255;

const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const NON_WHITESPACE = /\S+/gu;
const LETTERS = /\p{L}+/gu;

export function analyze(text: string, analyzer: string): AnalyzedToken[] {
  switch (analyzer) {
    case 'keyword':
      return text.length === 0 ? [] : [{ term: text, position: 0, start: 0, end: text.length }];
    case 'whitespace':
      return split(text, NON_WHITESPACE, (t) => t);
    case 'simple':
      return split(text, LETTERS, lower);
    case 'stop':
      return split(text, LETTERS, lower).filter((t) => !ENGLISH_STOP_WORDS.has(t.term));
    case 'standardasciifolding.lucene':
      return split(text, WORD, (t) => lower(t).normalize('NFD').replace(/\p{M}/gu, ''));
    case 'en.lucene':
    case 'en.microsoft':
      return split(text, WORD, lower).filter((t) => !ENGLISH_STOP_WORDS.has(t.term));
    default:
      return split(text, WORD, lower);
  }
}

/**
 * The terms of `analyze(text, analyzer)` without offsets or positions: what indexing needs, at a fraction of
 * the garbage (one string per token instead of an object per token).
 */
export function analyzeTerms(text: string, analyzer: string): string[] {
  switch (analyzer) {
    case 'en.lucene':
    case 'en.microsoft':
    case 'standard.lucene': {
      const words = text.match(WORD);
      if (!words) return [];
      const terms: string[] = [];
      const stop = analyzer !== 'standard.lucene';
      for (const word of words) {
        if (word.length > MAX_TOKEN_LENGTH) {
          for (const token of split(word, WORD, lower)) terms.push(token.term);
          continue;
        }
        const term = word.toLowerCase();
        if (!stop || !ENGLISH_STOP_WORDS.has(term)) terms.push(term);
      }
      return terms;
    }
    default:
      return analyze(text, analyzer).map((t) => t.term);
  }
}

const lower = (s: string) => s.toLowerCase();

function split(text: string, pattern: RegExp, normalise: (s: string) => string): AnalyzedToken[] {
  const tokens: AnalyzedToken[] = [];
  let position = 0;
  for (const match of text.matchAll(pattern)) {
    const start = match.index ?? 0;
    const word = match[0];
    for (let offset = 0; offset < word.length; offset += MAX_TOKEN_LENGTH) {
      const piece = word.slice(offset, offset + MAX_TOKEN_LENGTH);
      tokens.push({
        term: normalise(piece),
        position: position++,
        start: start + offset,
        end: start + offset + piece.length,
      });
    }
  }
  return tokens;
}
