import { z } from 'zod';
import { CLASSIFICATIONS, contentPath, DomainError, Version } from '@twinstore/domain';
import { ContentStore, FACET_FIELDS, SearchIndex, SearchQuery, SearchResult, TwinCache } from '../ports';

export const SEARCH_LIMITS = { maxTop: 100, maxSkip: 10_000, maxQueryLength: 512, maxTags: 20 } as const;

const csv = (s: string) =>
  s
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
const num = z.coerce.number().finite();

/** The query string of `GET /v1/search`, validated; every problem listed. */
export const searchParamsSchema = z
  .object({
    q: z.string().max(SEARCH_LIMITS.maxQueryLength).optional(),
    classification: z
      .string()
      .transform(csv)
      .pipe(z.array(z.enum(CLASSIFICATIONS)).max(3))
      .optional(),
    minIncome: num.min(0).optional(),
    maxIncome: num.min(0).optional(),
    minAge: num.int().min(0).max(150).optional(),
    maxAge: num.int().min(0).max(150).optional(),
    location: z.string().trim().min(1).max(200).optional(),
    tags: z
      .string()
      .transform((s) => csv(s).map((t) => t.toLowerCase()))
      .pipe(z.array(z.string().max(64)).max(SEARCH_LIMITS.maxTags))
      .optional(),
    top: z.coerce.number().int().min(1).max(SEARCH_LIMITS.maxTop).default(20),
    skip: z.coerce.number().int().min(0).max(SEARCH_LIMITS.maxSkip).default(0),
    facets: z
      .string()
      .transform(csv)
      .pipe(z.array(z.enum(FACET_FIELDS)))
      .optional(),
  })
  .strict();

/** Where the hits' markdown is read from when the index keeps no copy of it (for the page's highlights). */
export interface SearchTextSources {
  cache: TwinCache;
  content: ContentStore;
}

export class SearchTwinsUseCase {
  constructor(
    private readonly index: SearchIndex,
    private readonly texts?: SearchTextSources,
  ) {}

  parse(params: Record<string, unknown>): SearchQuery {
    const parsed = searchParamsSchema.safeParse(params);
    if (!parsed.success) {
      throw new DomainError(
        'SEARCH.INVALID_QUERY',
        'search parameters are invalid',
        parsed.error.issues.map((i) => ({ path: i.path.join('.') || 'query', message: i.message })),
      );
    }
    const { facets, ...rest } = parsed.data;
    return { ...rest, facets: facets ?? [] };
  }

  execute(params: Record<string, unknown>): Promise<SearchResult> {
    const query = this.parse(params);
    return this.texts
      ? this.index.search(query, { hitText: (hits) => this.loadTexts(hits) })
      : this.index.search(query);
  }

  /**
   * The page's markdown, from the cache when it holds the hit's version, else from the version's blob. A text
   * that cannot be read only costs that hit its highlights: the search itself does not fail.
   */
  private loadTexts(hits: readonly { leadId: string; version: Version }[]): Promise<(string | null)[]> {
    const { cache, content } = this.texts!;
    return Promise.all(
      hits.map(async ({ leadId, version }) => {
        const cached = await cache.get(leadId).catch(() => null);
        if (cached?.version === version) return cached.markdown.toString('utf8');
        const blob = await content.get(contentPath(leadId, version)).catch(() => null);
        return blob ? blob.body.toString('utf8') : null;
      }),
    );
  }
}
