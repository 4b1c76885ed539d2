import type { FastifyRequest } from 'fastify';
import { documentFromJson, documentFromMarkdown, TwinDocument } from '@twinstore/domain';
import { JSON_MEDIA_TYPE, MarkdownBody, mediaType } from '../http/body-parsers';
import { ProblemError } from '../http/problem';

/** The twin document of a PUT: JSON `{ markdown, metadata }` or `text/markdown` with YAML front matter. */
export function documentFromRequest(req: FastifyRequest): TwinDocument {
  const body: unknown = req.body;
  if (body instanceof MarkdownBody) return documentFromMarkdown(body.bytes);
  if (body !== undefined && mediaType(req) === JSON_MEDIA_TYPE) return documentFromJson(body);
  throw new ProblemError('HTTP.UNSUPPORTED_MEDIA_TYPE', 'send the twin as application/json or text/markdown');
}
