/**
 * Search highlights are HTML: the matches in `<em></em>`, everything else escaped. Index adapters ask their
 * engine to mark matches with characters documents cannot contain (they strip them before indexing), escape
 * the whole fragment, and only then turn the markers into tags, so a document's own `<`, `>` or `&` never
 * becomes markup.
 */
const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A fragment whose matches are delimited by `start` and `end` markers, as safe HTML. */
export function markedFragmentToHtml(fragment: string, start: string, end: string): string {
  return escapeHtml(fragment).split(start).join('<em>').split(end).join('</em>');
}
