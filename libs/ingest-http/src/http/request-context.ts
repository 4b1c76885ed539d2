import type { FastifyRequest } from 'fastify';

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The W3C `traceparent` of the request when well-formed (it travels on with the event), else undefined. */
export function traceparentOf(req: FastifyRequest): string | undefined {
  const value = req.headers.traceparent;
  return typeof value === 'string' && TRACEPARENT.test(value) ? value : undefined;
}

/** A caller's `X-Request-Id` is kept only when it is short and plain (it ends up in logs). */
export function acceptableRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

/** The request path without its query string (query values may carry personal data). */
export function pathOf(req: { url: string }): string {
  const q = req.url.indexOf('?');
  return (q === -1 ? req.url : req.url.slice(0, q)).slice(0, 1024);
}

export const etagOf = (version: string) => `"${version}"`;

/** RFC 9110 weak comparison: `If-None-Match: *`, or any listed tag (W/ or not) equal to ours. */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  return value.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** A query value that must be a single string; a repeated parameter is not silently reduced to one. */
export function singleQueryValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : String(value);
}
