import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiKeyVerifier,
  ApiScope,
  credentialFromHeaders,
  hasScope,
  type Principal,
} from '@twinstore/application';
import type { TwinsRuntime } from '@twinstore/platform';
import { describeError } from './describe-error';
import { looksLikeJwt, OidcVerifier } from './oidc-verifier';
import { problem, ProblemCode, PROBLEM_CONTENT_TYPE, PROBLEM_KINDS } from './problem';
import { pathOf } from './request-context';
import { TokenBucketLimiter } from './rate-limit';

export type { Principal } from '@twinstore/application';

/**
 * What a route needs: nothing (`open`), any valid credential (`authenticated`), or a scope. `admin` holds
 * every scope.
 */
export type Requirement = 'open' | 'authenticated' | ApiScope;

interface RouteRule {
  methods: readonly string[];
  /** The route pattern as registered (`/v1/twins/:leadId`); with `prefix`, any pattern starting so. */
  url: string;
  prefix?: boolean;
  require: Requirement | 'metrics' | 'docs';
}

const READ = ['GET', 'HEAD'];
const WRITE = ['PUT', 'POST', 'PATCH', 'DELETE'];
const ANY = [...READ, ...WRITE, 'OPTIONS'];

/**
 * Every route's requirement, first match wins. DELETE needs `twins:write` like PUT: an upstream system that
 * may store a lead may also erase it (erasure requests arrive through the same LMS). Routes under /v1/twins
 * and /v1/search added later inherit their family's scope; any other matched route needs `admin` until it
 * is listed here (fail closed). Unmatched requests pass: they end in a 404 or 405 that reveals nothing.
 */
export const ROUTE_REQUIREMENTS: readonly RouteRule[] = [
  { methods: READ, url: '/healthz', require: 'open' },
  { methods: READ, url: '/readyz', require: 'open' },
  { methods: READ, url: '/metrics', require: 'metrics' },
  { methods: READ, url: '/docs', prefix: true, require: 'docs' },
  { methods: ['POST'], url: '/v1/twins::batch', require: 'twins:write' },
  { methods: ['POST'], url: '/v1/twins:batch', require: 'twins:write' },
  { methods: READ, url: '/v1/twins/', prefix: true, require: 'twins:read' },
  { methods: WRITE, url: '/v1/twins', prefix: true, require: 'twins:write' },
  // a read of a cold twin answers 202 with a rehydration job: whoever may read may poll it
  { methods: READ, url: '/v1/rehydrations/', prefix: true, require: 'twins:read' },
  { methods: ANY, url: '/v1/search', prefix: true, require: 'search' },
];

/** The requirement of a matched route (its registered pattern), given the metrics and docs settings. */
export function requirementOf(
  method: string,
  route: string,
  settings: { metricsAuth: boolean; docsAuth: boolean },
): Requirement {
  const rule = ROUTE_REQUIREMENTS.find(
    (r) => r.methods.includes(method) && (r.prefix ? route.startsWith(r.url) : route === r.url),
  );
  if (!rule) return 'admin';
  if (rule.require === 'metrics') return settings.metricsAuth ? 'authenticated' : 'open';
  if (rule.require === 'docs') return settings.docsAuth ? 'authenticated' : 'open';
  return rule.require;
}

const principals = new WeakMap<IncomingMessage, Principal>();

/**
 * The caller of a request that passed authentication (undefined on open routes called without credentials).
 * For other request-time code, e.g. a per-key rate limiter in a later hook.
 */
export function principalOf(
  request: FastifyRequest | IncomingMessage,
): { id: string; scopes: string[]; name: string } | undefined {
  const raw = 'raw' in request ? request.raw : request;
  return principals.get(raw);
}

/** The presented credential: `Authorization: Bearer <key or token>`, else `X-Api-Key: <key>`. */
export function credentialOf(request: FastifyRequest): string | undefined {
  return credentialFromHeaders(request.headers);
}

const REALM = 'Bearer realm="twinstore"';

export interface AuthOptions {
  /** Tests move time (cache expiry); default Date.now. */
  now?: () => number;
}

/**
 * Authentication and scopes for every request, as a Fastify onRequest hook (before body parsing: an
 * unauthenticated client cannot make the server read a 2 MB body). `tws_` keys are checked against the API
 * key store, JWT-shaped bearers against the OIDC issuer (when configured). 401 for no, malformed, unknown,
 * revoked or expired credentials (with `WWW-Authenticate`), 403 for a valid credential without the scope.
 * Credentials are never logged; the key id is.
 */
export function registerAuth(
  fastify: FastifyInstance,
  runtime: TwinsRuntime,
  options: AuthOptions = {},
): void {
  const { auth } = runtime.config;
  const log = runtime.logger.child({ component: 'auth' });
  const keys = new ApiKeyVerifier(runtime.apiKeys, {
    cacheTtlMs: auth.cacheTtlMs,
    now: options.now,
    onTouchError: (e) => log.warn({ err: describeError(e) }, 'recording an API key use failed'),
  });
  const oidc = auth.oidc
    ? new OidcVerifier(auth.oidc, { cacheTtlMs: auth.cacheTtlMs, now: options.now })
    : null;

  // Failed authentications per client address: key guessing is slowed before any store is asked. Charged only
  // on failure, so a client with a valid key never spends from it; an address over the limit gets 429s.
  const failures =
    auth.failuresPerMinute > 0
      ? new TokenBucketLimiter(
          {
            ratePerSecond: auth.failuresPerMinute / 60,
            burst: Math.max(1, Math.ceil(auth.failuresPerMinute / 3)),
            maxKeys: 100_000,
          },
          options.now,
        )
      : undefined;
  const failed = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const decision = failures?.take(`ip:${request.ip}`);
    if (!decision || decision.allowed) return undefined;
    return tooManyFailures(reply, request, decision.retryAfterSeconds);
  };

  fastify.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions?.url;
    if (route === undefined) return; // unmatched: the 404 / 405 handler answers
    const requirement = requirementOf(request.method, route, auth);
    // open routes ignore credentials altogether: a health probe never fails over a stale header
    if (requirement === 'open') return;
    const blocked = failures?.peek(`ip:${request.ip}`);
    if (blocked && !blocked.allowed) return tooManyFailures(reply, request, blocked.retryAfterSeconds);
    const credential = credentialOf(request);
    if (!credential) {
      return (
        failed(request, reply) ??
        deny(reply, request, 'AUTH.UNAUTHENTICATED', 'send an API key or bearer token')
      );
    }

    let verdict: { ok: true; principal: Principal } | { ok: false; reason: string; keyId?: string };
    try {
      if (looksLikeJwt(credential)) {
        verdict = oidc
          ? await oidc.verify(credential)
          : { ok: false, reason: 'bearer tokens not configured' };
      } else {
        verdict = await keys.verify(credential);
      }
    } catch (e) {
      log.warn({ reqId: request.id, err: describeError(e) }, 'credentials could not be checked');
      reply.header('retry-after', '1');
      return deny(reply, request, 'HTTP.NOT_READY', 'credentials cannot be checked right now; retry shortly');
    }
    if (!verdict.ok) {
      log.debug({ reqId: request.id, reason: verdict.reason, keyId: verdict.keyId }, 'authentication failed');
      const limited = failed(request, reply);
      if (limited) return limited;
      reply.header('www-authenticate', `${REALM}, error="invalid_token"`);
      return deny(reply, request, 'AUTH.UNAUTHENTICATED', 'the API key or token is not valid');
    }
    const { principal } = verdict;
    if (requirement !== 'authenticated' && !hasScope(principal.scopes, requirement)) {
      log.debug({ reqId: request.id, principal: principal.id, requirement }, 'scope missing');
      reply.header('www-authenticate', `${REALM}, error="insufficient_scope", scope="${requirement}"`);
      return deny(reply, request, 'AUTH.FORBIDDEN', `this operation needs the scope ${requirement}`);
    }
    principals.set(request.raw, principal);
  });
}

function tooManyFailures(reply: FastifyReply, request: FastifyRequest, retryAfter: number): FastifyReply {
  reply.header('retry-after', String(retryAfter));
  return deny(
    reply,
    request,
    'HTTP.RATE_LIMITED',
    `too many failed authentications from this address; retry after ${retryAfter} s`,
  );
}

function deny(reply: FastifyReply, request: FastifyRequest, code: ProblemCode, detail: string): FastifyReply {
  if (code === 'AUTH.UNAUTHENTICATED' && !reply.hasHeader('www-authenticate'))
    reply.header('www-authenticate', REALM);
  return reply
    .code(PROBLEM_KINDS[code].status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem(code, detail, { instance: pathOf(request) })));
}
