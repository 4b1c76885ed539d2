import type { OpenAPIObject } from '@nestjs/swagger';

const RETRY_AFTER = {
  description: 'whole seconds to wait before retrying',
  schema: { type: 'integer', minimum: 1 },
};

const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': {
    description: 'requests the key may send at once (the bucket size)',
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': { description: 'requests left in the bucket now', schema: { type: 'integer' } },
  'RateLimit-Reset': { description: 'seconds until the bucket is full again', schema: { type: 'integer' } },
  'RateLimit-Policy': { description: '`<burst>;w=<seconds to refill it>`', schema: { type: 'string' } },
};

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const WRITES = new Set(['put', 'post', 'patch', 'delete']);

/**
 * Every `/v1` operation may answer 429 (per-key rate limit, `HTTP.RATE_LIMITED`); every write may answer 503
 * (`HTTP.OVERLOADED`: too many writes in progress or the event backlog over its limit; `HTTP.BACKEND_BUSY`: a
 * store throttled the request). Both carry `Retry-After`. Added to the generated document in one place rather
 * than on each controller, so a new route cannot forget them.
 */
export function addFlowControlResponses(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, operation] of Object.entries(item as Record<string, unknown>)) {
      if (!['get', 'put', 'post', 'patch', 'delete'].includes(method)) continue;
      const responses = (operation as { responses: Record<string, unknown> }).responses;
      responses['429'] ??= {
        description: 'rate limit of this API key (or client address) exceeded (`HTTP.RATE_LIMITED`)',
        headers: { 'Retry-After': RETRY_AFTER, ...RATE_LIMIT_HEADERS },
        content: problemContent,
      };
      if (WRITES.has(method)) {
        responses['503'] ??= {
          description:
            'overloaded (`HTTP.OVERLOADED`: too many writes in progress, or the event backlog is over its ' +
            'limit) or a backend is busy (`HTTP.BACKEND_BUSY`); nothing was written, retry after `Retry-After`',
          headers: { 'Retry-After': RETRY_AFTER },
          content: problemContent,
        };
      }
    }
  }
}
