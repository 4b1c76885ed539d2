import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { documentFromMarkdown } from './document';
import { MAX_FRONT_MATTER_NESTING, yamlNestingDepth } from './yaml-nesting';

/** The real nesting depth of a parsed value (scalars are depth 0). */
function valueDepth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(valueDepth));
}

const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

describe('yamlNestingDepth', () => {
  it('counts flow, block and compact levels', () => {
    // an upper bound: a block mapping counts its line and its `:`
    expect(yamlNestingDepth('a: 1\nb: two\n')).toBe(2);
    expect(yamlNestingDepth('a: [1, [2, {b: 3}]]\n')).toBe(5);
    expect(yamlNestingDepth('a:\n  b:\n    c: 1\n')).toBeGreaterThanOrEqual(3);
    expect(yamlNestingDepth('- - - - x\n')).toBeGreaterThanOrEqual(4);
  });

  it('does not count brackets, dashes or colons inside strings, block scalars and comments', () => {
    const text = [
      `a: "[[[[[[[[ {{{{ ]]"`,
      `b: '[[[[[[[[ it''s'`,
      `c: O'Brien [[[[[[`,
      `d: |`,
      `  [[[[[[[[[[[[[[[[[[[[[[[[`,
      `  - - - - - - - - - - - -`,
      `e: 1 # [[[[[[[[[[[[[[[[[[[[`,
    ].join('\n');
    expect(yamlNestingDepth(text)).toBeLessThanOrEqual(4);
    expect(parse(text)).toMatchObject({ a: '[[[[[[[[ {{{{ ]]', e: 1 });
  });

  it('is never below the depth the parser builds (property)', () => {
    fc.assert(
      fc.property(json, fc.boolean(), (value, flowStyle) => {
        const text = stringify({ v: value }, flowStyle ? { collectionStyle: 'flow' } : {});
        expect(yamlNestingDepth(text)).toBeGreaterThanOrEqual(valueDepth(parse(text)));
      }),
      {
        numRuns: Number(process.env.YAML_DEPTH_RUNS ?? 300),
        seed: Number(process.env.FUZZ_SEED ?? 20240611),
      },
    );
  });

  it('a closing bracket hidden in a string cannot lower the count', () => {
    const depth = 200;
    const text = 'a: ' + '[ "]", '.repeat(depth) + '1' + ']'.repeat(depth);
    expect(yamlNestingDepth(text)).toBeGreaterThanOrEqual(depth);
  });

  it('stops early once past the bound', () => {
    expect(yamlNestingDepth('a: ' + '['.repeat(100_000), 64)).toBe(65);
  });
});

describe('documentFromMarkdown with deep front matter', () => {
  const doc = (fm: string) => Buffer.from(`---\n${fm}\n---\n# x\n`, 'utf8');
  it.each([
    ['flow sequences', 'deep: ' + '['.repeat(5000) + ']'.repeat(5000)],
    ['flow maps', 'deep: ' + '{a: '.repeat(5000) + '1' + '}'.repeat(5000)],
    ['compact block sequences', 'deep:\n' + '- '.repeat(5000) + 'x'],
    [
      'indented block maps',
      Array.from({ length: 200 }, (_, i) => ' '.repeat(i) + `k${i}:`).join('\n') + ' 1',
    ],
  ])('refuses %s with TWIN.INVALID_DOCUMENT before parsing', (_name, fm) => {
    expect(() => documentFromMarkdown(doc(fm))).toThrow(
      expect.objectContaining({ code: 'TWIN.INVALID_DOCUMENT' }),
    );
  });

  it(`accepts nesting up to the metadata bound (${MAX_FRONT_MATTER_NESTING} levels of YAML)`, () => {
    const fm = 'extra:\n  deep: ' + '['.repeat(30) + '1' + ']'.repeat(30);
    expect(() => documentFromMarkdown(doc(fm))).not.toThrow();
  });
});
