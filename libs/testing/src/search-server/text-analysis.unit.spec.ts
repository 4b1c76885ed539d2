import { describe, expect, it } from 'vitest';
import { parseSimpleQuery } from './simple-query';
import { analyze, analyzeTerms } from './text-analysis';

describe('test server analyzers', () => {
  const sample = 'The Zürich-based ÉCOLE had 3 cats & a "dog" — 東京 🚀 and ' + 'x'.repeat(300);

  it.each(['standard.lucene', 'en.lucene', 'en.microsoft', 'simple', 'whitespace', 'stop', 'keyword'])(
    'analyzeTerms agrees with analyze for %s',
    (analyzer) => {
      expect(analyzeTerms(sample, analyzer)).toEqual(analyze(sample, analyzer).map((t) => t.term));
    },
  );

  it('lowercases, splits on non-word characters, and keeps offsets into the original text', () => {
    const tokens = analyze('Zürich, 東京!', 'standard.lucene');
    expect(tokens.map((t) => t.term)).toEqual(['zürich', '東京']);
    expect(tokens.map((t) => 'Zürich, 東京!'.slice(t.start, t.end))).toEqual(['Zürich', '東京']);
  });

  it('drops English stop words but keeps their positions', () => {
    const tokens = analyze('garden and the solar', 'en.lucene');
    expect(tokens.map((t) => [t.term, t.position])).toEqual([
      ['garden', 0],
      ['solar', 3],
    ]);
  });
});

describe('simple query syntax', () => {
  it('joins bare clauses with the mode default, left to right', () => {
    expect(parseSimpleQuery('a b', 'all')).toEqual({
      kind: 'and',
      left: { kind: 'term', text: 'a', prefix: false },
      right: { kind: 'term', text: 'b', prefix: false },
    });
    expect(parseSimpleQuery('a -b', 'any')).toEqual({
      kind: 'or',
      left: { kind: 'term', text: 'a', prefix: false },
      right: { kind: 'not', operand: { kind: 'term', text: 'b', prefix: false } },
    });
  });

  it('reads phrases, prefixes, groups, escapes and explicit operators', () => {
    expect(parseSimpleQuery('"solar farm"~2 sol* (x | y) \\-z', 'all')).toEqual({
      kind: 'and',
      left: {
        kind: 'and',
        left: {
          kind: 'and',
          left: { kind: 'phrase', text: 'solar farm' },
          right: { kind: 'term', text: 'sol', prefix: true },
        },
        right: {
          kind: 'or',
          left: { kind: 'term', text: 'x', prefix: false },
          right: { kind: 'term', text: 'y', prefix: false },
        },
      },
      right: { kind: 'term', text: '-z', prefix: false },
    });
  });

  it('matches everything for empty text or *, and survives unbalanced input', () => {
    expect(parseSimpleQuery('', 'all')).toEqual({ kind: 'all' });
    expect(parseSimpleQuery('*', 'any')).toEqual({ kind: 'all' });
    expect(parseSimpleQuery('"', 'all')).toEqual({ kind: 'all' });
    expect(parseSimpleQuery(')) a ((', 'all')).toEqual({ kind: 'term', text: 'a', prefix: false });
  });

  it('refuses pathological nesting instead of overflowing the stack', () => {
    expect(() => parseSimpleQuery('('.repeat(10_000), 'all')).toThrow(RangeError);
  });
});
