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
 * The FTS5 MATCH expression for `q`: every term an FTS5 string (`"..."`, embedded quotes doubled), joined by
 * implicit AND. Returns null when `q` has no searchable term, which callers treat as "no text condition".
 */
export function toFtsMatch(q: string | undefined): string | null {
  const terms = searchTerms(q);
  if (terms.length === 0) return null;
  return terms.map((term) => `"${term.replace(/"/g, '""')}"`).join(' ');
}
