import { applyDecorators, Controller, Get, Inject, Req } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { TwinsRuntime } from '@twinstore/platform';
import { ApiJson, ApiProblems, SEARCH_QUERY_DOC } from '../docs/openapi.schemas';
import { TWINS_RUNTIME } from '../ingest-api.tokens';

/** List parameters may be given comma-separated or repeated (`tags=a&tags=b`). */
const LIST_PARAMS = new Set(['classification', 'tags', 'facets']);

@ApiTags('search')
@Controller('v1/search')
export class SearchController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Get()
  @ApiOperation({
    operationId: 'searchTwins',
    summary: 'Full-text and metadata search',
    description: 'Unknown or invalid parameters are a 400 problem listing each one.',
  })
  @applyDecorators(...SEARCH_QUERY_DOC.map((p) => ApiQuery({ ...p, required: false })))
  @ApiJson(200, 'ranked hits with highlights, total count and facet counts', 'SearchResult')
  @ApiProblems(400, 500)
  search(@Req() req: FastifyRequest) {
    return this.runtime.useCases.search.execute(searchParams(req.query));
  }
}

/** The query string as a plain object for the use case's schema (which reports every problem). */
export function searchParams(query: unknown): Record<string, unknown> {
  // fromEntries defines own properties, so a `__proto__` parameter stays a (rejected) unknown parameter
  return Object.fromEntries(
    Object.entries((query ?? {}) as Record<string, unknown>).map(([name, value]) => [
      name,
      Array.isArray(value) && LIST_PARAMS.has(name) ? value.join(',') : value,
    ]),
  );
}
