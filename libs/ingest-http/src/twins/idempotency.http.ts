import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  idempotencyFingerprint,
  IdempotencyStore,
  parseIdempotencyKey,
  runIdempotent,
  StoredResponse,
  VersionConflictError,
} from '@twinstore/application';
import { MarkdownBody, mediaType } from '../http/body-parsers';
import { ProblemError } from '../http/problem';
import { etagOf } from '../http/request-context';

/** Set on an answer that is the stored first answer of the same request (the Stripe convention). */
export const REPLAYED_HEADER = 'idempotent-replayed';
/** Seconds a client is asked to wait before retrying while the first request with its key still runs. */
export const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;

/** The request's `Idempotency-Key`, undefined when absent; 400 when malformed or sent more than once. */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = typeof raw === 'string' ? parseIdempotencyKey(raw) : null;
  if (key === null) {
    throw new ProblemError(
      'IDEMPOTENCY.INVALID_KEY',
      'Idempotency-Key must be sent once, as 1-255 printable ASCII characters',
    );
  }
  return key;
}

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e]*)"$/;

/**
 * `If-Match`: `*`, or the versions of the listed entity-tags (RFC 9110 strong comparison: a weak tag never
 * matches, so it is dropped). A tag that is not one of our versions simply never matches (412), while a
 * header that is not entity-tag syntax at all (an unquoted version, say) is a 400.
 */
export function ifMatchOf(req: FastifyRequest): '*' | string[] | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined) return undefined;
  const value = (Array.isArray(raw) ? raw.join(',') : raw).trim();
  if (value === '*') return '*';
  const versions: string[] = [];
  for (const part of value.split(',')) {
    const tag = ENTITY_TAG.exec(part.trim());
    if (!tag) {
      throw new ProblemError(
        'HTTP.INVALID_PRECONDITION',
        'If-Match must be "*" or a list of quoted versions, e.g. If-Match: "01J9Z6...", as the ETag was sent',
      );
    }
    if (!tag[1]) versions.push(tag[2]);
  }
  return versions;
}

/** A failed `If-Match` as a 412 problem carrying the current version as ETag (when the twin exists). */
export function asPreconditionProblem(e: unknown): unknown {
  if (!(e instanceof VersionConflictError)) return e;
  return new ProblemError('TWIN.VERSION_CONFLICT', e.message, {
    headers: e.currentVersion ? { etag: etagOf(e.currentVersion) } : {},
  });
}

export interface IdempotentReplyOptions {
  store: IdempotencyStore;
  /** Method and normalised path: the resource the key is for. */
  scope: string;
  key: string | undefined;
  /** Logs a store failure that happened after the action took effect (or while renewing the claim). */
  onStoreError: (error: unknown) => void;
  /**
   * Logs (as a warning) that the request lost its claim while it ran: its lease lapsed and a retry took the
   * key over, so the request may run twice. Without it, an `IdempotencyClaimLostError` goes to `onStoreError`.
   */
  onClaimLost?: () => void;
}

/** The request lost its Idempotency-Key claim while it ran (see `IdempotentReplyOptions.onClaimLost`). */
export class IdempotencyClaimLostError extends Error {
  constructor(readonly scope: string) {
    super(
      `the Idempotency-Key claim of ${scope} lapsed while the request ran and a retry took the key over: ` +
        'the request may have run twice (each write is versioned); its answer was returned but not stored',
    );
    this.name = 'IdempotencyClaimLostError';
  }
}

/**
 * Sends the answer of `action`, run at most once per Idempotency-Key (when one was sent). The fingerprint
 * covers what decides the effect: scope, media type, If-Match and the body (the markdown bytes as received,
 * or the parsed JSON re-serialised: byte-different spellings of the same JSON are the same request).
 * Successful answers are remembered and replayed; failures are not (a retry runs again). Another request
 * under a used key is a 422, the same request while the first still runs a 409 with Retry-After.
 */
export async function replyIdempotently(
  req: FastifyRequest,
  reply: FastifyReply,
  options: IdempotentReplyOptions,
  action: () => Promise<StoredResponse>,
): Promise<FastifyReply> {
  if (options.key === undefined) return send(reply, await action(), false);
  const body = req.body instanceof MarkdownBody ? req.body.bytes : JSON.stringify(req.body ?? null);
  const requestHash = idempotencyFingerprint([
    options.scope,
    mediaType(req),
    headerText(req.headers['if-match']),
    body,
  ]);
  const outcome = await runIdempotent(
    options.store,
    { key: options.key, scope: options.scope, requestHash },
    action,
    {
      onStoreError: options.onStoreError,
      onClaimLost:
        options.onClaimLost ?? (() => options.onStoreError(new IdempotencyClaimLostError(options.scope))),
    },
  );
  switch (outcome.state) {
    case 'mismatch':
      throw new ProblemError(
        'IDEMPOTENCY.KEY_REUSED',
        'this Idempotency-Key was used for a different request; send a new key with a new request',
      );
    case 'in-flight':
      throw new ProblemError(
        'IDEMPOTENCY.IN_FLIGHT',
        'a request with this Idempotency-Key is still being processed; retry it shortly',
        { headers: { 'retry-after': String(IN_FLIGHT_RETRY_AFTER_SECONDS) } },
      );
    default:
      return send(reply, outcome.response, outcome.state === 'replayed');
  }
}

function send(reply: FastifyReply, response: StoredResponse, replayed: boolean): FastifyReply {
  reply.code(response.status).headers(response.headers);
  if (replayed) reply.header(REPLAYED_HEADER, 'true');
  return reply.send(response.body);
}

const headerText = (value: string | string[] | undefined) =>
  value === undefined ? '' : Array.isArray(value) ? value.join(',') : value;
