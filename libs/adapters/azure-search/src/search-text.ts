/**
 * Free text to the service's simple query syntax, with no syntax left in it. Only runs of letters, digits
 * and combining marks survive (the same terms the embedded FTS5 index uses), so `+ | - " * ( ) \ ~` and the
 * like can never act as operators; each clause is then quoted, so no word is read as anything but a word.
 * Combined with `searchMode: 'all'`, every term must match.
 */
export function searchTerms(q: string | undefined): string[] {
  if (!q) return [];
  return (
    q
      // NFKC folds full-width and compatibility forms the same way the indexed text is folded.
      .normalize('NFKC')
      .split(/[^\p{L}\p{N}\p{M}]+/u)
      // A run of combining marks alone analyses to nothing and would add an empty clause.
      .filter((term) => /[\p{L}\p{N}]/u.test(term))
  );
}

/**
 * The clauses of `q`, each a list of terms that must appear next to each other in that order: a part in
 * double quotes is one clause (a phrase), every other word a clause of its own. An unpaired quote is
 * ignored, so the words after it are plain words (the embedded index reads `q` the same way).
 */
export function searchPhrases(q: string | undefined): string[][] {
  if (!q) return [];
  const clauses: string[][] = [];
  const parts = q.split('"');
  // Odd positions lie between two quotes; a last odd part has no closing quote.
  parts.forEach((part, i) => {
    if (i % 2 === 1 && i < parts.length - 1) {
      const terms = searchTerms(part);
      if (terms.length > 0) clauses.push(terms);
    } else {
      for (const term of searchTerms(part)) clauses.push([term]);
    }
  });
  return clauses;
}

/**
 * The `search` text for `q`: every clause quoted (the terms of a quoted part make one phrase), or null when
 * `q` has no searchable term (callers then list by filter only).
 */
export function toSimpleQuery(q: string | undefined): string | null {
  const clauses = searchPhrases(q);
  if (clauses.length === 0) return null;
  return clauses.map((terms) => `"${terms.join(' ')}"`).join(' ');
}
