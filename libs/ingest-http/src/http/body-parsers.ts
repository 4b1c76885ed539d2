import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ProblemError } from './problem';

export const JSON_MEDIA_TYPE = 'application/json';
export const MARKDOWN_MEDIA_TYPE = 'text/markdown';

/** A `text/markdown` body: the exact bytes received. */
export class MarkdownBody {
  constructor(readonly bytes: Buffer) {}
}

/**
 * The only request bodies the API accepts: JSON and markdown, both read as raw bytes. JSON is parsed here so a
 * malformed body is a 400 problem (not a framework error) and `__proto__` keys are refused outright;
 * markdown stays a Buffer so it is stored byte for byte. Any other media type is answered 415 by Fastify.
 */
export function registerBodyParsers(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(JSON_MEDIA_TYPE, { parseAs: 'buffer' }, (req, body, done) => {
    try {
      requireUtf8Charset(req);
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  fastify.addContentTypeParser(MARKDOWN_MEDIA_TYPE, { parseAs: 'buffer' }, (req, body, done) => {
    try {
      requireUtf8Charset(req);
      done(null, new MarkdownBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new ProblemError('HTTP.MALFORMED_BODY', 'the JSON body is empty');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ProblemError('HTTP.MALFORMED_BODY', 'the JSON body is not valid UTF-8');
  }
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new ForbiddenKeyError();
      return value;
    });
  } catch (e) {
    if (e instanceof ForbiddenKeyError) {
      throw new ProblemError('HTTP.MALFORMED_BODY', 'the JSON body must not contain "__proto__" keys');
    }
    // The parser's message quotes the input, which may be personal data: only its position is kept.
    const at = /position (\d+)/.exec(e instanceof Error ? e.message : '');
    throw new ProblemError(
      'HTTP.MALFORMED_BODY',
      `the body is not valid JSON${at ? ` (near byte ${at[1]})` : ''}`,
    );
  }
}

class ForbiddenKeyError extends Error {}

/** Bodies are UTF-8; a request declaring another charset is refused rather than silently misread. */
function requireUtf8Charset(req: FastifyRequest): void {
  const header = req.headers['content-type'] ?? '';
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(header)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new ProblemError('HTTP.UNSUPPORTED_MEDIA_TYPE', 'request bodies must be UTF-8 (charset=utf-8)');
  }
}

/** The media type of a request, lower-cased, without parameters. */
export function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}
