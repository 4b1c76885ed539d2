import { afterAll, describe, expect, it } from 'vitest';
import { PageHighlighter } from './page-highlighter';

const filler = (n: number) => 'Notes about the weather and the family. '.repeat(n);

describe('PageHighlighter', () => {
  const highlighter = new PageHighlighter();
  afterAll(() => highlighter.close());

  it('finds the fragment deep inside a long text, from an excerpt around it', () => {
    const [fragments] = highlighter.highlight('"kayaks"', [
      `${filler(100)}Owns three kayaks. ${filler(100)}`,
    ]);
    expect(fragments).toHaveLength(1);
    expect(fragments[0]).toContain('<em>kayaks</em>');
  });

  it('falls back to the whole text when the excerpt only looked like a match', () => {
    // "runner" starts like "running" but stems differently; the real match comes much later.
    const text = `The runner ${filler(100)} was running late. ${filler(20)}`;
    expect(highlighter.highlight('"running"', [text])[0][0]).toContain('<em>running</em>');
    // Accents differ between query and text: no excerpt, the whole text is matched.
    expect(highlighter.highlight('"muller"', [`${filler(100)}Zoë Müller`])[0][0]).toContain(
      '<em>Müller</em>',
    );
  });

  it('gives each text its own fragments, and none to a missing or non-matching text', () => {
    const result = highlighter.highlight('"term life"', [
      `${filler(30)}Wants term life cover.`,
      null,
      'Life is long; the term ends.',
      'Term life, again.',
    ]);
    expect(result[0][0]).toContain('<em>term life</em>');
    expect(result[1]).toEqual([]);
    expect(result[2]).toEqual([]);
    expect(result[3][0]).toContain('<em>Term life</em>');
  });
});
