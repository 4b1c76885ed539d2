import { describe, expect, it } from 'vitest';
import { assertBlobPath, assertBlobPrefix, prefixUpperBound } from './blob-path';

describe('blob paths', () => {
  it.each([
    'a',
    'digital-twins/2026/11/28/lead-1.md',
    'persona-images/x/full.png',
    '...a',
    'a/b..',
    '_/-/.x',
  ])('accepts %s', (path) => {
    expect(() => assertBlobPath(path)).not.toThrow();
  });

  it.each(['', '.', '..', '../x', 'a/..', 'a//b', '/a', 'a/', 'a b', 'a\\b', 'é', 'a\nb', 'x'.repeat(1025)])(
    'refuses %j',
    (path) => {
      expect(() => assertBlobPath(path)).toThrow(/blob path/);
    },
  );

  it('refuses values that are not strings', () => {
    expect(() => assertBlobPath(undefined)).toThrow(/blob path/);
    expect(() => assertBlobPath(42)).toThrow(/blob path/);
  });

  it('accepts partial prefixes, refuses characters outside the alphabet', () => {
    for (const p of ['', 'digital-twins/2026/1', 'a/', '../'])
      expect(() => assertBlobPrefix(p)).not.toThrow();
    for (const p of ['a b', '%', "'", 'x'.repeat(1025)]) expect(() => assertBlobPrefix(p)).toThrow(/prefix/);
  });

  it('bounds a prefix by the next string that does not start with it', () => {
    expect(prefixUpperBound('a/b/')).toBe('a/b0');
    expect(prefixUpperBound('a/b')).toBe('a/c');
    expect(prefixUpperBound('z')).toBe('{');
    expect(prefixUpperBound('')).toBeNull();
    for (const s of ['a/b/', 'a/b/zzz', 'a/b/~']) expect(s < prefixUpperBound('a/b/')!).toBe(true);
    expect('a/b0' < prefixUpperBound('a/b/')!).toBe(false);
  });
});
