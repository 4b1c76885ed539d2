/**
 * Free text to the service's simple query syntax, with no syntax left in it. Only runs of letters, digits
 * and combining marks survive (the same terms the embedded FTS5 index uses), so `+ | - " * ( ) \ ~` and the
 * like can never act as operators; each term is then quoted, so no word is read as anything but a word.
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

/** The `search` text for `q`, or null when `q` has no searchable term (callers then list by filter only). */
export function toSimpleQuery(q: string | undefined): string | null {
  const terms = searchTerms(q);
  if (terms.length === 0) return null;
  return terms.map((term) => `"${term}"`).join(' ');
}
