import { describe, expect, it } from 'vitest';
import { contentPath, Version } from '@twinstore/domain';
import { CachedTwin, ContentStore, SearchIndex, SearchOptions, SearchQuery, TwinCache } from '../ports';
import { SearchTwinsUseCase } from './search-twins.use-case';

const LEAD = ['0b8f1f3e-6a41-4f7e-9a55-1b2c3d4e5f60', '1b8f1f3e-6a41-4f7e-9a55-1b2c3d4e5f61'];
const v = (n: number) => `01HZZZZZZZ${String(n).padStart(16, '0')}` as Version;

/** An index that hands back the texts its loader gave for two fixed hits. */
function indexLoading(): SearchIndex & { texts?: (string | null)[]; queries: SearchQuery[] } {
  const index = {
    queries: [] as SearchQuery[],
    texts: undefined as (string | null)[] | undefined,
    async search(query: SearchQuery, options?: SearchOptions) {
      index.queries.push(query);
      index.texts = await options?.hitText?.([
        { leadId: LEAD[0], version: v(2) },
        { leadId: LEAD[1], version: v(3) },
      ]);
      return { total: 0, hits: [], facets: {} };
    },
  } as unknown as SearchIndex & { texts?: (string | null)[]; queries: SearchQuery[] };
  return index;
}

const cacheHolding = (entry: CachedTwin): TwinCache =>
  ({ get: async (leadId: string) => (leadId === entry.leadId ? entry : null) }) as unknown as TwinCache;

describe('SearchTwinsUseCase', () => {
  it("loads the page's text from the cache at the hit's version, else from the version's blob", async () => {
    const index = indexLoading();
    const blobs = new Map([[contentPath(LEAD[1], v(3)), Buffer.from('from the blob')]]);
    const content = {
      get: async (path: string) => (blobs.has(path) ? { body: blobs.get(path)!, properties: {} } : null),
    } as unknown as ContentStore;
    const cache = cacheHolding({
      leadId: LEAD[0],
      version: v(2),
      classification: 'hot',
      markdown: Buffer.from('cached'),
    });
    await new SearchTwinsUseCase(index, { cache, content }).execute({ q: 'solar' });
    expect(index.texts).toEqual(['cached', 'from the blob']);
    expect(index.queries[0]).toMatchObject({ q: 'solar', top: 20, skip: 0, facets: [] });
  });

  it('leaves a hit without text when neither the cache nor the store has its version', async () => {
    const index = indexLoading();
    const content = {
      get: async () => {
        throw new Error('store down');
      },
    } as unknown as ContentStore;
    const cache = cacheHolding({
      leadId: LEAD[0],
      version: v(1),
      classification: 'hot',
      markdown: Buffer.from('old'),
    });
    await new SearchTwinsUseCase(index, { cache, content }).execute({ q: 'solar' });
    expect(index.texts).toEqual([null, null]);
  });

  it('gives no loader when it has no text sources', async () => {
    const index = indexLoading();
    await new SearchTwinsUseCase(index).execute({});
    expect(index.texts).toBeUndefined();
  });
});
