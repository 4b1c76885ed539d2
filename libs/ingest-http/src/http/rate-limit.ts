import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { problem, PROBLEM_CONTENT_TYPE } from './problem';
import { pathOf } from './request-context';

/** Whose bucket a request draws from: the authenticated principal's id, or undefined (then the client IP). */
export type RateLimitKeyOf = (request: FastifyRequest) => string | undefined;

export interface RateLimitSettings {
  /** Tokens added per second (sustained requests per second per key); 0 turns the limiter off. */
  ratePerSecond: number;
  /** Bucket size: requests a key may send at once after being idle; 0 means one second's worth. */
  burst: number;
  /** Most buckets kept; beyond it the least recently used one is dropped (that key starts full again). */
  maxKeys: number;
}

export type RateDecision =
  | { allowed: true; limit: number; remaining: number; resetSeconds: number }
  | { allowed: false; limit: number; remaining: 0; resetSeconds: number; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Idle buckets looked at per call; the oldest are dropped once they have refilled (a full bucket = none). */
const SWEEP_PER_CALL = 2;

/**
 * A token bucket per key with bounded memory. The map is kept in least-recently-used order (a key is moved to
 * the end on each use), so each call can drop the oldest buckets that have refilled (forgetting a full bucket
 * changes nothing) and, when the map is at `maxKeys`, evict the least recently used one. Every call is O(1).
 * A flood of distinct keys therefore costs at most `maxKeys` buckets; what it can do is reset the buckets of
 * idle keys to full, which fails open, never locks a client out.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  readonly rate: number;
  readonly burst: number;
  readonly maxKeys: number;

  /** `now` in milliseconds (monotonic by default; tests inject a clock). */
  constructor(
    settings: RateLimitSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(settings.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
    this.rate = settings.ratePerSecond;
    this.burst = settings.burst > 0 ? settings.burst : Math.max(1, Math.ceil(settings.ratePerSecond));
    this.maxKeys = Math.max(1, Math.floor(settings.maxKeys));
  }

  /** Buckets currently held. */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string, cost = 1): RateDecision {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      this.refill(bucket, now);
    } else {
      bucket = { tokens: this.burst, updatedAt: now };
    }
    this.sweep(now);
    while (this.buckets.size >= this.maxKeys) this.evictOldest();
    this.buckets.set(key, bucket);

    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return {
        allowed: true,
        limit: this.burst,
        remaining: Math.floor(bucket.tokens),
        resetSeconds: this.secondsUntil(this.burst - bucket.tokens),
      };
    }
    return {
      allowed: false,
      limit: this.burst,
      remaining: 0,
      resetSeconds: this.secondsUntil(this.burst - bucket.tokens),
      retryAfterSeconds: Math.max(1, this.secondsUntil(cost - bucket.tokens)),
    };
  }

  /** Whether `key` has a whole token now, without taking one (for limits charged only on failure). */
  peek(key: string): RateDecision {
    const bucket = this.buckets.get(key);
    if (!bucket) return { allowed: true, limit: this.burst, remaining: this.burst, resetSeconds: 0 };
    this.refill(bucket, this.now());
    if (bucket.tokens >= 1) {
      return {
        allowed: true,
        limit: this.burst,
        remaining: Math.floor(bucket.tokens),
        resetSeconds: this.secondsUntil(this.burst - bucket.tokens),
      };
    }
    return {
      allowed: false,
      limit: this.burst,
      remaining: 0,
      resetSeconds: this.secondsUntil(this.burst - bucket.tokens),
      retryAfterSeconds: Math.max(1, this.secondsUntil(1 - bucket.tokens)),
    };
  }

  private refill(bucket: Bucket, now: number): void {
    const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(this.burst, bucket.tokens + elapsed * this.rate);
    bucket.updatedAt = now;
  }

  private sweep(now: number): void {
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      const oldest = this.buckets.entries().next();
      if (oldest.done) return;
      const [key, bucket] = oldest.value;
      const full = bucket.tokens + (Math.max(0, now - bucket.updatedAt) / 1000) * this.rate >= this.burst;
      if (!full) return;
      this.buckets.delete(key);
    }
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }

  /** Whole seconds until `tokens` more have been added (rounded up; 0 when none are missing). */
  private secondsUntil(tokens: number): number {
    return tokens <= 0 ? 0 : Math.ceil(tokens / this.rate - 1e-9);
  }
}

/** Paths never limited: liveness and readiness probes, the metrics scrape and the API document. */
export function isRateLimitExempt(path: string): boolean {
  return (
    path === '/healthz' ||
    path === '/readyz' ||
    path === '/metrics' ||
    path === '/docs' ||
    path.startsWith('/docs/')
  );
}

export interface RateLimitOptions {
  settings: RateLimitSettings;
  /** The principal of an authenticated request; default none (every request is keyed by client IP). */
  keyOf?: RateLimitKeyOf;
  /** Counts 429s (`reason="rate-limit"`). */
  rejections?: Counter<string>;
  /** Milliseconds; injected by tests. */
  now?: () => number;
}

/**
 * Per-key rate limiting as an `onRequest` hook (before the body is read). Register it AFTER the
 * authentication hook: Fastify runs hooks of one kind in registration order, so the principal is known here
 * and an unauthenticated request has already been answered 401 without spending anyone's tokens.
 *
 * Headers (IETF draft-ietf-httpapi-ratelimit-headers, the `RateLimit-Limit`/`-Remaining`/`-Reset` form, on
 * every limited response): `RateLimit-Limit` the bucket size, `RateLimit-Remaining` whole tokens left,
 * `RateLimit-Reset` seconds until the bucket is full again, `RateLimit-Policy` `<burst>;w=<seconds to refill
 * it>`. A 429 adds `Retry-After`: whole seconds until the next token. Returns the limiter (undefined when off).
 */
export function registerRateLimit(
  fastify: FastifyInstance,
  options: RateLimitOptions,
): TokenBucketLimiter | undefined {
  if (!(options.settings.ratePerSecond > 0)) return undefined;
  const limiter = new TokenBucketLimiter(options.settings, options.now);
  const keyOf = options.keyOf ?? (() => undefined);
  const policy = `${limiter.burst};w=${Math.max(1, Math.ceil(limiter.burst / limiter.rate))}`;
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(req);
    if (isRateLimitExempt(path)) return;
    const principal = keyOf(req);
    // principal ids and addresses live in separate namespaces; neither is ever logged or used as a label
    const key = principal !== undefined ? `p:${principal}` : `ip:${req.ip}`;
    const decision = limiter.take(key);
    void reply.headers({
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(decision.resetSeconds),
      'ratelimit-policy': policy,
    });
    if (decision.allowed) return;
    options.rejections?.inc({ reason: 'rate-limit', method: req.method, route: routeOf(req) });
    return reply
      .code(429)
      .header('retry-after', String(decision.retryAfterSeconds))
      .type(PROBLEM_CONTENT_TYPE)
      .send(
        JSON.stringify(
          problem(
            'HTTP.RATE_LIMITED',
            `too many requests for this client; retry after ${decision.retryAfterSeconds} s`,
            { instance: path },
          ),
        ),
      );
  });
  return limiter;
}

/** The route pattern for metric labels (never the URL: bounded cardinality, no lead ids). */
export function routeOf(req: FastifyRequest): string {
  return req.routeOptions?.url ?? 'unmatched';
}
