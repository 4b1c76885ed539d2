import { describe, expect, it } from 'vitest';
import { escapeHtml } from '@twinstore/application';
import { indexableText, MATCH_END, MATCH_START, snippetToHtml } from './snippet-html';

describe('snippetToHtml', () => {
  it('escapes the text and turns the markers into <em> tags', () => {
    const fragment = `<b>x</b> & "q" 'a' ${MATCH_START}solar${MATCH_END} <em>fake</em>`;
    expect(snippetToHtml(fragment)).toBe(
      '&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#39;a&#39; <em>solar</em> &lt;em&gt;fake&lt;/em&gt;',
    );
  });

  it('escapes ampersands before anything else, so entities in the text stay literal', () => {
    expect(escapeHtml('&lt;')).toBe('&amp;lt;');
  });
});

describe('indexableText', () => {
  it('replaces control characters, including the markers, and keeps tabs and line breaks', () => {
    expect(indexableText(`a${MATCH_START}b${MATCH_END}c\u0000d\u007f\te\r\nf`)).toBe('a b c d \te\r\nf');
  });
});
