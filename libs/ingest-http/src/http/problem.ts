import { STATUS_CODES } from 'node:http';
import { DomainErrorCode } from '@twinstore/domain';

/** Base of every problem `type` URI; the suffix is stable and documented in the README. */
export const PROBLEM_TYPE_BASE = 'https://twinstore.dev/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface FieldProblem {
  path: string;
  message: string;
}

/** RFC 9457 problem details, plus the stable `code` and field-level `errors`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  errors?: FieldProblem[];
  /** The request id, on 5xx problems, to find the server-side log entry. */
  correlationId?: string;
}

/** Failures that belong to the HTTP layer rather than the domain. */
export type HttpProblemCode =
  | 'HTTP.MALFORMED_BODY'
  | 'HTTP.UNSUPPORTED_MEDIA_TYPE'
  | 'HTTP.CONTENT_TOO_LARGE'
  | 'HTTP.NOT_FOUND'
  | 'HTTP.METHOD_NOT_ALLOWED'
  | 'HTTP.BAD_REQUEST'
  | 'HTTP.NOT_READY'
  | 'HTTP.INTERNAL'
  | 'BATCH.INVALID_REQUEST'
  | 'BATCH.TOO_MANY_ITEMS'
  | 'HTTP.INVALID_PRECONDITION'
  | 'IDEMPOTENCY.INVALID_KEY'
  | 'IDEMPOTENCY.KEY_REUSED'
  | 'IDEMPOTENCY.IN_FLIGHT'
  | 'AUTH.UNAUTHENTICATED'
  | 'AUTH.FORBIDDEN'
  | 'HTTP.RATE_LIMITED'
  | 'HTTP.OVERLOADED'
  | 'HTTP.BACKEND_BUSY';

export type ProblemCode = DomainErrorCode | HttpProblemCode;

interface ProblemKind {
  status: number;
  slug: string;
  title: string;
}

/**
 * Every code's status and type. TWIN.NOT_YET_AVAILABLE is a 404 with `Retry-After` rather than 425: 425 is
 * defined only for TLS early data (RFC 8470) and proxies may retry it on their own; a 404 with its own `type`
 * and `code` tells the client exactly what happened and that retrying later is sensible.
 */
export const PROBLEM_KINDS: Readonly<Record<ProblemCode, ProblemKind>> = {
  'TWIN.INVALID_LEAD_ID': { status: 400, slug: 'invalid-lead-id', title: 'Invalid lead id' },
  'TWIN.INVALID_METADATA': { status: 400, slug: 'invalid-metadata', title: 'Invalid metadata' },
  'TWIN.INVALID_DOCUMENT': { status: 400, slug: 'invalid-document', title: 'Invalid twin document' },
  'TWIN.INVALID_VERSION': { status: 400, slug: 'invalid-version', title: 'Invalid version' },
  'TWIN.NOT_FOUND': { status: 404, slug: 'twin-not-found', title: 'Twin not found' },
  'TWIN.VERSION_CONFLICT': { status: 412, slug: 'version-conflict', title: 'Version conflict' },
  'TWIN.NOT_YET_AVAILABLE': {
    status: 404,
    slug: 'twin-not-yet-available',
    title: 'Twin version not yet available',
  },
  'SEARCH.INVALID_QUERY': { status: 400, slug: 'invalid-search-query', title: 'Invalid search query' },
  'HTTP.MALFORMED_BODY': { status: 400, slug: 'malformed-body', title: 'Malformed request body' },
  'HTTP.UNSUPPORTED_MEDIA_TYPE': {
    status: 415,
    slug: 'unsupported-media-type',
    title: 'Unsupported media type',
  },
  'HTTP.CONTENT_TOO_LARGE': { status: 413, slug: 'content-too-large', title: 'Content too large' },
  'HTTP.NOT_FOUND': { status: 404, slug: 'not-found', title: 'Not found' },
  'HTTP.METHOD_NOT_ALLOWED': { status: 405, slug: 'method-not-allowed', title: 'Method not allowed' },
  'HTTP.BAD_REQUEST': { status: 400, slug: 'bad-request', title: 'Bad request' },
  'HTTP.NOT_READY': { status: 503, slug: 'not-ready', title: 'Service not ready' },
  'HTTP.INTERNAL': { status: 500, slug: 'internal-error', title: 'Internal server error' },
  'BATCH.INVALID_REQUEST': { status: 400, slug: 'invalid-batch', title: 'Invalid batch request' },
  'BATCH.TOO_MANY_ITEMS': { status: 413, slug: 'batch-too-large', title: 'Too many items in batch' },
  'HTTP.INVALID_PRECONDITION': {
    status: 400,
    slug: 'invalid-precondition',
    title: 'Invalid precondition header',
  },
  'IDEMPOTENCY.INVALID_KEY': {
    status: 400,
    slug: 'invalid-idempotency-key',
    title: 'Invalid Idempotency-Key',
  },
  'IDEMPOTENCY.KEY_REUSED': {
    status: 422,
    slug: 'idempotency-key-reused',
    title: 'Idempotency-Key used for another request',
  },
  'IDEMPOTENCY.IN_FLIGHT': {
    status: 409,
    slug: 'idempotent-request-in-flight',
    title: 'A request with this Idempotency-Key is in progress',
  },
  'AUTH.UNAUTHENTICATED': {
    status: 401,
    slug: 'unauthenticated',
    title: 'Missing or invalid credentials',
  },
  'AUTH.FORBIDDEN': { status: 403, slug: 'forbidden', title: 'Insufficient scope' },
  'HTTP.RATE_LIMITED': { status: 429, slug: 'rate-limited', title: 'Too many requests' },
  'HTTP.OVERLOADED': { status: 503, slug: 'overloaded', title: 'Service overloaded' },
  'HTTP.BACKEND_BUSY': { status: 503, slug: 'backend-busy', title: 'A backend is busy' },
};

/**
 * An HTTP-layer failure, thrown anywhere in the request pipeline and rendered by the problem filter. A domain
 * code is allowed too, for a domain failure that needs response headers (a 412 carrying the current ETag).
 */
export class ProblemError extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly options: { errors?: FieldProblem[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export function problem(
  code: ProblemCode,
  detail: string,
  extra: { instance?: string; errors?: FieldProblem[]; correlationId?: string } = {},
): Problem {
  const kind = PROBLEM_KINDS[code];
  return {
    type: PROBLEM_TYPE_BASE + kind.slug,
    title: kind.title,
    status: kind.status,
    detail,
    ...(extra.instance !== undefined ? { instance: extra.instance } : {}),
    code,
    ...(extra.errors && extra.errors.length > 0 ? { errors: extra.errors } : {}),
    ...(extra.correlationId !== undefined ? { correlationId: extra.correlationId } : {}),
  };
}

/** A problem for a 4xx status the HTTP stack produced itself (not one of ours). */
export function genericClientProblem(status: number, instance: string): Problem {
  return {
    type: PROBLEM_TYPE_BASE + 'bad-request',
    title: STATUS_CODES[status] ?? 'Bad request',
    status,
    detail: 'the request could not be processed',
    instance,
    code: 'HTTP.BAD_REQUEST',
  };
}
