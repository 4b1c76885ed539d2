import { z } from 'zod';
import { CLASSIFICATIONS, DomainError } from '@twinstore/domain';
import { FACET_FIELDS, SearchIndex, SearchQuery, SearchResult } from '../ports';

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

export class SearchTwinsUseCase {
  constructor(private readonly index: SearchIndex) {}

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
    return this.index.search(this.parse(params));
  }
}
