import { describe, expect, it } from 'vitest';
import { parseIndexDefinition } from './index-schema';
import { evaluateFilter, parseFilter } from './odata-filter';
import { SearchServiceError } from './search-service-error';

const schema = parseIndexDefinition({
  name: 'people',
  fields: [
    { name: 'id', type: 'Edm.String', key: true, filterable: true },
    { name: 'name', type: 'Edm.String', filterable: true },
    { name: 'bio', type: 'Edm.String', searchable: true, filterable: false },
    { name: 'age', type: 'Edm.Int32', filterable: true },
    { name: 'income', type: 'Edm.Double', filterable: true },
    { name: 'vip', type: 'Edm.Boolean', filterable: true },
    { name: 'seen', type: 'Edm.DateTimeOffset', filterable: true },
    { name: 'tags', type: 'Collection(Edm.String)', filterable: true },
    { name: 'scores', type: 'Collection(Edm.Int32)', filterable: true },
  ],
});

const PEOPLE = [
  {
    id: '1',
    name: "O'Brien",
    age: 30,
    income: 50_000,
    vip: true,
    seen: '2024-05-01T00:00:00Z',
    tags: ['a', 'b'],
    scores: [1, 5],
  },
  {
    id: '2',
    name: 'Smith',
    age: 45,
    income: null,
    vip: false,
    seen: '2024-06-01T00:00:00Z',
    tags: ['b'],
    scores: [],
  },
  { id: '3', name: 'Jones', age: null, income: 10.5, vip: null, seen: null, tags: [], scores: [9] },
  {
    id: '4',
    name: null,
    age: 60,
    income: 75_000,
    vip: true,
    seen: '2023-01-01T12:30:00+02:00',
    tags: null,
    scores: null,
  },
];

const matching = (filter: string) =>
  PEOPLE.filter((p) => evaluateFilter(parseFilter(filter, schema), p)).map((p) => p.id);

const failure = (filter: string) => {
  try {
    parseFilter(filter, schema);
  } catch (e) {
    return e as SearchServiceError;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be refused`);
};

describe('OData filter parser (test search server)', () => {
  describe('comparisons and constants', () => {
    it.each([
      ["name eq 'Smith'", ['2']],
      ["name ne 'Smith'", ['1', '3', '4']],
      ['age gt 30', ['2', '4']],
      ['age ge 30', ['1', '2', '4']],
      ['age lt 45', ['1']],
      ['age le 45', ['1', '2']],
      ['30 lt age', ['2', '4']],
      ['income ge 10.5', ['1', '3', '4']],
      ['income ge 1e4', ['1', '4']],
      ['age eq null', ['3']],
      ['age ne null', ['1', '2', '4']],
      ['name eq null', ['4']],
      ['vip eq true', ['1', '4']],
      ['vip', ['1', '4']],
      ['not vip', ['2', '3']],
      ['vip eq false', ['2']],
      ['seen ge 2024-05-01T00:00:00Z', ['1', '2']],
      ['seen lt 2023-01-01T11:00:00Z', ['4']],
      ['true', ['1', '2', '3', '4']],
      ['false', []],
      ['income gt -INF', ['1', '3', '4']],
    ])('%s', (filter, expected) => {
      expect(matching(filter)).toEqual(expected);
    });

    it("reads '' inside a string as one quote", () => {
      expect(matching("name eq 'O''Brien'")).toEqual(['1']);
    });

    it('never matches null with a range comparison', () => {
      expect(matching('age lt 1000')).toEqual(['1', '2', '4']);
      expect(matching('not (age lt 1000)')).toEqual(['3']);
    });
  });

  describe('precedence and grouping', () => {
    it('binds and tighter than or', () => {
      // or(age eq 30, and(age eq 45, vip)) : 1 only, since 2 is not vip.
      expect(matching('age eq 30 or age eq 45 and vip')).toEqual(['1']);
      expect(matching('(age eq 30 or age eq 45) and vip')).toEqual(['1']);
      expect(matching('(age eq 30 or age eq 45) and not vip')).toEqual(['2']);
      expect(matching('vip and age eq 60 or age eq 45')).toEqual(['2', '4']);
    });

    it('binds not tighter than and', () => {
      expect(matching("not vip and name eq 'Smith'")).toEqual(['2']);
      expect(matching("not (vip and name eq 'Smith')")).toEqual(['1', '2', '3', '4']);
      expect(matching('not not vip')).toEqual(['1', '4']);
    });

    it('accepts redundant parentheses and whitespace', () => {
      expect(matching(' ( ( age  eq  30 ) )\n')).toEqual(['1']);
    });
  });

  describe('functions and lambdas', () => {
    it('search.in with the default and an explicit delimiter', () => {
      expect(matching("search.in(name, 'Smith Jones')")).toEqual(['2', '3']);
      expect(matching("search.in(name, 'Smith,Jones')")).toEqual(['2', '3']);
      expect(matching("search.in(name, 'Smith|O''Brien', '|')")).toEqual(['1', '2']);
      expect(matching("search.in(name, 'Smith Jones', ',')")).toEqual([]);
    });

    it('any and all over string and number collections', () => {
      expect(matching("tags/any(t: t eq 'b')")).toEqual(['1', '2']);
      expect(matching("tags/any(t: t eq 'a' or t eq 'zz')")).toEqual(['1']);
      expect(matching("tags/any(t: search.in(t, 'a,zz'))")).toEqual(['1']);
      expect(matching('tags/any()')).toEqual(['1', '2']);
      expect(matching("tags/all(t: t ne 'a')")).toEqual(['2', '3', '4']);
      expect(matching("tags/all(t: not search.in(t, 'a'))")).toEqual(['2', '3', '4']);
      expect(matching('scores/any(s: s gt 4 and s lt 6)')).toEqual(['1']);
      expect(matching("tags/any(t: t eq 'a') and tags/any(t: t eq 'b')")).toEqual(['1']);
      expect(matching("not tags/any(t: t eq 'b')")).toEqual(['3', '4']);
    });
  });

  describe('hostile and malformed input', () => {
    it('keeps an escaped injection attempt inside one string constant', () => {
      const hostile = "hot' or true or 'x";
      expect(matching(`name eq '${hostile.replace(/'/g, "''")}'`)).toEqual([]);
      expect(matching(`tags/any(t: t eq '${hostile.replace(/'/g, "''")}')`)).toEqual([]);
    });

    it.each([
      ["name eq 'hot' or true or 'x'", 'a constant alone is not a filter'],
      ["name eq 'unterminated", 'unterminated string'],
      ['age eq', 'missing operand'],
      ['age eq 30)', 'unbalanced parenthesis'],
      ['(age eq 30', 'unclosed parenthesis'],
      ['age eq 30 age eq 31', 'two expressions without an operator'],
      ['age EQ 30', 'operators are case-sensitive'],
      ['age eq 30 AND vip', 'keywords are case-sensitive'],
      ['age = 30', 'not OData'],
      ['name eq "Smith"', 'double quotes are not strings'],
      ['age eq 30; drop', 'stray characters'],
      ['', 'empty after trimming is handled by the caller, not the parser'],
      ["name eq 'a' --", 'SQL comment'],
      ['1 eq 1', 'two constants'],
      ['name eq age', 'two fields'],
      ["ghost eq 'x'", 'unknown field'],
      ["bio eq 'x'", 'field not filterable'],
      ["age eq '30'", 'string compared with a number'],
      ['name eq 30', 'number compared with a string'],
      ['vip gt true', 'range on a boolean'],
      ['age gt null', 'range on null'],
      ["tags eq 'a'", 'collection compared directly'],
      ["tags/any(t: t ne 'a')", 'service refuses ne inside any on strings'],
      ["tags/all(t: t eq 'a')", 'service refuses eq inside all on strings'],
      ["tags/any(t: t eq 'a' and t eq 'b')", 'service refuses and inside any on strings'],
      ["name/any(t: t eq 'a')", 'any on a non-collection'],
      ["tags/any(t: x eq 'a')", 'unknown range variable'],
      ['tags/all()', 'all needs a body'],
      ['age', 'non-boolean field alone'],
      ["search.in(age, '1,2')", 'search.in on a number'],
      ['search.in(name)', 'search.in without values'],
      ['unknown.fn(name)', 'unknown function'],
    ])('refuses %j (%s) with 400', (filter) => {
      const error = failure(filter === '' ? ' ' : filter);
      expect(error).toBeInstanceOf(SearchServiceError);
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/Parameter name: \$filter$/);
    });

    it('reports the position of a syntax error', () => {
      expect(failure('age eq 30 )').message).toContain('Syntax error at position 10');
    });

    it('refuses filters nested deeper than the service allows', () => {
      const deep = `${'('.repeat(500)}vip${')'.repeat(500)}`;
      expect(failure(deep).status).toBe(400);
    });

    it('parses a long search.in list and a long conjunction quickly', () => {
      const ids = Array.from({ length: 1000 }, (_, i) => `lead-${i}`);
      const started = performance.now();
      parseFilter(`search.in(name, '${ids.join(',')}', ',')`, schema);
      parseFilter(ids.map((id) => `name ne '${id}'`).join(' and '), schema);
      expect(performance.now() - started).toBeLessThan(500);
    });
  });
});
