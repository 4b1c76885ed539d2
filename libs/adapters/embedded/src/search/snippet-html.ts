import { markedFragmentToHtml } from '@twinstore/application';

/**
 * snippet() (in PageHighlighter) is asked to mark matches with these control characters instead of `<em>`:
 * the fragment can then be HTML-escaped as a whole and the markers turned into tags afterwards, so a
 * document's own `<`, `>` or `&` never becomes markup. The markers are stripped from documents before they
 * are tokenised (see indexableText), so only snippet() can produce them.
 */
export const MATCH_START = '\u0002';
export const MATCH_END = '\u0003';
export const ELLIPSIS = '\u2026';

/** A snippet() fragment as safe HTML: the text escaped, the matches wrapped in `<em></em>`. */
export function snippetToHtml(fragment: string): string {
  return markedFragmentToHtml(fragment, MATCH_START, MATCH_END);
}

/**
 * The text given to FTS5. C0 control characters have no meaning in markdown; removing them (tab and line
 * breaks aside) keeps the match markers unforgeable. They become spaces so the words around them stay apart.
 */
export function indexableText(markdown: string): string {
  return markdown.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ');
}
