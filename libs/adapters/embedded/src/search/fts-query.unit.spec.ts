import { describe, expect, it } from 'vitest';
import { searchTerms, toFtsMatch } from './fts-query';

describe('toFtsMatch', () => {
  it('quotes every word so FTS5 reads it as a plain string, joined by implicit AND', () => {
    expect(toFtsMatch('solar  Garden')).toBe('"solar" "Garden"');
  });

  it('turns FTS5 operators and syntax into plain words or drops them', () => {
    expect(toFtsMatch('a AND b OR NOT c')).toBe('"a" "AND" "b" "OR" "NOT" "c"');
    expect(toFtsMatch('NEAR(x y, 2)')).toBe('"NEAR" "x" "y" "2"');
    expect(toFtsMatch('markdown:solar')).toBe('"markdown" "solar"');
    expect(toFtsMatch('^start pre* -neg +pos {a b}: "phrase here"')).toBe(
      '"start" "pre" "neg" "pos" "a" "b" "phrase here"',
    );
    expect(toFtsMatch("hot' or true or 'x")).toBe('"hot" "or" "true" "or" "x"');
  });

  it('makes a quoted part one phrase and ignores an unpaired quote', () => {
    expect(toFtsMatch('"term life" cover')).toBe('"term life" "cover"');
    expect(toFtsMatch('a "b-c d" "e')).toBe('"a" "b c d" "e"');
    expect(toFtsMatch('"NEAR(x" OR y"')).toBe('"NEAR x" "OR" "y"');
    expect(toFtsMatch('"" "!!" "solo"')).toBe('"solo"');
  });

  it('has no condition when nothing searchable is left', () => {
    for (const q of [undefined, '', '   ', '"', '*', '(', ')', '"" ()', '🚀🎉', '\u0301\u0302', '--']) {
      expect(toFtsMatch(q)).toBeNull();
    }
  });

  it('keeps letters of every script, with their combining marks', () => {
    expect(searchTerms('Zoë Zürich 東京 Дмитрий नमस्ते')).toEqual(['Zoë', 'Zürich', '東京', 'Дмитрий', 'नमस्ते']);
    expect(searchTerms('Zu\u0308rich')).toEqual(['Zürich']);
  });

  it('never lets a double quote through, so the quoting cannot be broken', () => {
    for (const q of ['a"b', '"a" OR "b', '""', 'x"" y']) {
      const match = toFtsMatch(q) ?? '';
      expect(match.replace(/"[^"]*"/g, '').trim()).toBe('');
      expect(match).not.toMatch(/""/);
    }
  });
});
