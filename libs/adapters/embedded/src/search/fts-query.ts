/**
 * Splits free text into search terms. Only letters, digits and combining marks survive, so operator
 * characters (`"`, `*`, `^`, `:`, `(`, `-`, `+`) can never reach the FTS5 query parser; words such as AND,
 * OR, NOT and NEAR come out as ordinary terms and are quoted below, where FTS5 reads them as plain text.
 */
export function searchTerms(q: string | undefined): string[] {
  if (!q) return [];
  return (
    q
      // Canonical composition only: documents are indexed as written, so compatibility folding (NFKC) here
      // would make a full-width query miss the full-width text it was copied from.
      .normalize('NFC')
      .split(/[^\p{L}\p{N}\p{M}]+/u)
      // A run of combining marks alone tokenises to nothing and would add an empty phrase.
      .filter((term) => /[\p{L}\p{N}]/u.test(term))
  );
}

/**
 * The clauses of `q`, each a list of terms that must appear next to each other in that order: a part in
 * double quotes is one clause (a phrase), every other word a clause of its own. An unpaired quote is
 * ignored, so the words after it are plain words.
 */
export function searchPhrases(q: string | undefined): string[][] {
  if (!q) return [];
  const clauses: string[][] = [];
  const parts = q.split('"');
  // Odd positions lie between two quotes; a last odd part has no closing quote.
  parts.forEach((part, i) => {
    const quoted = i % 2 === 1 && i < parts.length - 1;
    if (quoted) {
      const terms = searchTerms(part);
      if (terms.length > 0) clauses.push(terms);
    } else {
      for (const term of searchTerms(part)) clauses.push([term]);
    }
  });
  return clauses;
}

/**
 * The clauses of `q` as FTS5 strings (`"..."`; terms inside one string are a phrase). The terms hold no
 * double quote, so a clause cannot break out of its string.
 */
export function toFtsClauses(q: string | undefined): string[] {
  return searchPhrases(q).map((terms) => `"${terms.join(' ')}"`);
}

/**
 * The FTS5 MATCH expression for `q`: its clauses joined by implicit AND. Returns null when `q` has no
 * searchable term, which callers treat as "no text condition".
 */
export function toFtsMatch(q: string | undefined): string | null {
  const clauses = toFtsClauses(q);
  return clauses.length === 0 ? null : clauses.join(' ');
}
