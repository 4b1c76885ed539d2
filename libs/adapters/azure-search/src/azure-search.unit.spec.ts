import { describe, expect, it } from 'vitest';
import { SearchQuery } from '@twinstore/application';
import { twinSearchFilter } from './azure-search-index.adapter';
import { HIGHLIGHT_POST_TAG, HIGHLIGHT_PRE_TAG, highlightToHtml, indexableMarkdown } from './highlight-html';
import { odataNumber, odataSearchIn, odataString } from './odata';
import { searchTerms, toSimpleQuery } from './search-text';

const query = (q: Partial<SearchQuery> = {}): SearchQuery => ({ top: 20, skip: 0, facets: [], ...q });

describe('OData helpers', () => {
  it('quote strings and double embedded quotes', () => {
    expect(odataString('Sydney')).toBe("'Sydney'");
    expect(odataString("hot' or true or 'x")).toBe("'hot'' or true or ''x'");
    expect(odataString("''")).toBe("''''''");
    expect(odataString('')).toBe("''");
  });

  it('print finite numbers and refuse the rest', () => {
    expect(odataNumber(75_000)).toBe('75000');
    expect(odataNumber(-1.5)).toBe('-1.5');
    expect(() => odataNumber(NaN)).toThrow(RangeError);
    expect(() => odataNumber(Infinity)).toThrow(RangeError);
    expect(() => odataNumber('1 or true' as unknown as number)).toThrow(RangeError);
  });

  it('build search.in with an explicit delimiter and refuse values containing it', () => {
    expect(odataSearchIn('leadId', ['a', "b'c"])).toBe("search.in(leadId, 'a,b''c', ',')");
    expect(() => odataSearchIn('leadId', ['a,b'])).toThrow(RangeError);
  });
});

describe('twinSearchFilter', () => {
  it('always excludes tombstones', () => {
    expect(twinSearchFilter(query())).toBe('deleted ne true');
  });

  it('joins every condition with and, values escaped and normalised', () => {
    expect(
      twinSearchFilter(
        query({
          classification: ['hot', 'cold', 'hot'],
          minIncome: 1000,
          maxIncome: 2000.5,
          minAge: 18,
          maxAge: 65,
          location: '  New York ',
          tags: ['VIP', "o'neil", 'vip'],
        }),
      ),
    ).toBe(
      "deleted ne true and (classification eq 'hot' or classification eq 'cold') and income ge 1000 and income le 2000.5" +
        " and age ge 18 and age le 65 and locationKey eq 'new york'" +
        " and tags/any(t: t eq 'vip') and tags/any(t: t eq 'o''neil')",
    );
  });

  it('keeps a hostile value inside one string constant', () => {
    expect(twinSearchFilter(query({ location: "x' or true or 'y" }))).toBe(
      "deleted ne true and locationKey eq 'x'' or true or ''y'",
    );
  });
});

describe('search text', () => {
  it('keeps only words and quotes each one', () => {
    expect(searchTerms('Zürich, "quoted" star* a:b (and) -x +y |z \\ ~2')).toEqual([
      'Zürich',
      'quoted',
      'star',
      'a',
      'b',
      'and',
      'x',
      'y',
      'z',
      '2',
    ]);
    expect(toSimpleQuery('solar  FARM')).toBe('"solar" "FARM"');
    expect(toSimpleQuery('garden" OR "x')).toBe('"garden" "OR" "x"');
  });

  it('keeps a quoted part together as one phrase and ignores an unpaired quote', () => {
    expect(toSimpleQuery('"term life" cover')).toBe('"term life" "cover"');
    expect(toSimpleQuery('a "b-c d\\" "e')).toBe('"a" "b c d" "e"');
    expect(toSimpleQuery('"" "~" "solo*"')).toBe('"solo"');
  });

  it('has no query for text without words', () => {
    for (const q of [undefined, '', '   ', '"', '*', '(', '🚀', '-- ||']) expect(toSimpleQuery(q)).toBeNull();
  });

  it('folds compatibility forms', () => {
    expect(searchTerms('ＡＢＣ１２３')).toEqual(['ABC123']);
  });
});

describe('highlight HTML', () => {
  it('escapes the fragment and turns only the markers into <em>', () => {
    const fragment = `<script>alert("${HIGHLIGHT_PRE_TAG}lobsters${HIGHLIGHT_POST_TAG}")</script> & <em>fake</em>`;
    expect(highlightToHtml(fragment)).toBe(
      '&lt;script&gt;alert(&quot;<em>lobsters</em>&quot;)&lt;/script&gt; &amp; &lt;em&gt;fake&lt;/em&gt;',
    );
  });

  it('removes marker characters from indexed markdown so documents cannot forge them', () => {
    expect(indexableMarkdown(`a${HIGHLIGHT_PRE_TAG}b${HIGHLIGHT_POST_TAG}c`)).toBe('a b c');
  });
});
