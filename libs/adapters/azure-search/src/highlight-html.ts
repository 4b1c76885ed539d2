import { markedFragmentToHtml } from '@twinstore/application';

/**
 * The service returns highlight fragments as raw document text with the pre/post tags inserted, so asking for
 * `<em>` directly would hand back the markdown's own `<script>` unescaped. Instead the service is asked to
 * mark matches with two private-use characters; the fragment is HTML-escaped as a whole and only then are the
 * markers turned into `<em></em>`. The markers are removed from documents before indexing (indexableMarkdown),
 * so only the highlighter can produce them.
 */
export const HIGHLIGHT_PRE_TAG = '\uE000';
export const HIGHLIGHT_POST_TAG = '\uE001';

/** A fragment as safe HTML: escaped, matches wrapped in `<em></em>`. */
export function highlightToHtml(fragment: string): string {
  return markedFragmentToHtml(fragment, HIGHLIGHT_PRE_TAG, HIGHLIGHT_POST_TAG);
}

/** The markdown as indexed: the marker characters replaced by spaces so documents cannot forge them. */
export function indexableMarkdown(markdown: string): string {
  return markdown.replace(/[\uE000\uE001]/g, ' ');
}
