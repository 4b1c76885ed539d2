import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerRateLimit, TokenBucketLimiter } from './rate-limit';

/** A clock the test moves by hand (milliseconds). */
function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('TokenBucketLimiter', () => {
  it('allows a burst, then refuses with the whole seconds until the next token', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 0.5, burst: 3, maxKeys: 10 }, clock.now);

    const allowed = [1, 2, 3].map(() => limiter.take('a'));
    expect(allowed.map((d) => d.allowed)).toEqual([true, true, true]);
    expect(allowed.map((d) => d.remaining)).toEqual([2, 1, 0]);
    expect(allowed[2]).toMatchObject({ limit: 3, resetSeconds: 6 }); // 3 tokens at 0.5/s

    const refused = limiter.take('a');
    expect(refused).toEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetSeconds: 6,
      retryAfterSeconds: 2,
    });
    clock.advance(1500);
    // 0.75 of a token back: the next whole one is 0.5 s away, announced as 1 s (never 0)
    expect(limiter.take('a')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
  });

  it('refills at the configured rate, up to the burst and never beyond', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 10, burst: 5, maxKeys: 10 }, clock.now);
    for (let i = 0; i < 5; i++) expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);

    clock.advance(100); // one token
    expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);

    clock.advance(60_000); // long idle: back to the burst, not 600 tokens
    const burst = Array.from({ length: 7 }, () => limiter.take('k').allowed);
    expect(burst).toEqual([true, true, true, true, true, false, false]);
  });

  it('keeps a separate bucket per key', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 10 }, clock.now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')].map((d) => d.allowed)).toEqual([
      true,
      true,
      false,
    ]);
    expect([limiter.take('b'), limiter.take('b')].map((d) => d.allowed)).toEqual([true, true]);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('defaults the burst to one second of the rate (at least 1)', () => {
    expect(new TokenBucketLimiter({ ratePerSecond: 20, burst: 0, maxKeys: 1 }).burst).toBe(20);
    expect(new TokenBucketLimiter({ ratePerSecond: 0.2, burst: 0, maxKeys: 1 }).burst).toBe(1);
    expect(() => new TokenBucketLimiter({ ratePerSecond: 0, burst: 5, maxKeys: 1 })).toThrow(RangeError);
  });

  it('holds at most maxKeys buckets under a flood of 50k distinct keys', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 10, maxKeys: 1000 }, clock.now);
    let max = 0;
    for (let i = 0; i < 50_000; i++) {
      limiter.take(`flood-${i}`);
      max = Math.max(max, limiter.size);
    }
    expect(max).toBe(1000);
    expect(limiter.size).toBe(1000);
  });

  it('keeps the bucket of a key in use while a flood evicts idle ones (least recently used first)', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 3, maxKeys: 100 }, clock.now);
    for (let i = 0; i < 3; i++) limiter.take('busy');
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`flood-${i}`);
      if (i % 50 === 0) expect(limiter.take('busy').allowed).toBe(false); // still empty: never forgotten
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
  });

  it('drops buckets that have refilled, so idle keys cost no memory', () => {
    const clock = manualClock();
    const limiter = new TokenBucketLimiter({ ratePerSecond: 10, burst: 10, maxKeys: 10_000 }, clock.now);
    for (let i = 0; i < 500; i++) limiter.take(`idle-${i}`);
    expect(limiter.size).toBe(500);
    clock.advance(1000); // every one of them is full again
    for (let i = 0; i < 300; i++) limiter.take('active');
    expect(limiter.size).toBe(1);
  });
});

describe('registerRateLimit', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function server(keyOf?: (r: { headers: Record<string, unknown> }) => string | undefined) {
    const clock = manualClock();
    app = Fastify();
    const limiter = registerRateLimit(app, {
      settings: { ratePerSecond: 1, burst: 2, maxKeys: 50 },
      keyOf: keyOf as never,
      now: clock.now,
    });
    app.get('/v1/thing', async () => ({ ok: true }));
    app.get('/healthz', async () => ({ status: 'ok' }));
    await app.ready();
    return { app, clock, limiter: limiter! };
  }

  it('keys by client IP when there is no principal, and by principal when there is one', async () => {
    const { app } = await server((r) => r.headers['x-principal'] as string | undefined);
    const get = (remoteAddress: string, principal?: string) =>
      app.inject({
        method: 'GET',
        url: '/v1/thing',
        remoteAddress,
        headers: principal ? { 'x-principal': principal } : {},
      });
    expect((await get('10.0.0.1')).statusCode).toBe(200);
    expect((await get('10.0.0.1')).statusCode).toBe(200);
    expect((await get('10.0.0.1')).statusCode).toBe(429);
    expect((await get('10.0.0.2')).statusCode).toBe(200);
    // the same address, authenticated: the principal's own bucket
    expect((await get('10.0.0.1', 'key-1')).statusCode).toBe(200);
    expect((await get('10.0.0.9', 'key-1')).statusCode).toBe(200);
    expect((await get('10.0.0.8', 'key-1')).statusCode).toBe(429);
  });

  it('answers 429 problem+json with Retry-After and RateLimit headers; probes are exempt', async () => {
    const { app, clock } = await server();
    const ok = await app.inject({ method: 'GET', url: '/v1/thing' });
    expect(ok.headers).toMatchObject({
      'ratelimit-limit': '2',
      'ratelimit-remaining': '1',
      'ratelimit-reset': '1',
      'ratelimit-policy': '2;w=2',
    });
    await app.inject({ method: 'GET', url: '/v1/thing' });
    const refused = await app.inject({ method: 'GET', url: '/v1/thing?q=secret' });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toEqual({
      type: 'https://twinstore.dev/problems/rate-limited',
      title: 'Too many requests',
      status: 429,
      detail: 'too many requests for this client; retry after 1 s',
      instance: '/v1/thing',
      code: 'HTTP.RATE_LIMITED',
    });

    for (let i = 0; i < 10; i++) {
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200);
      expect(health.headers['ratelimit-limit']).toBeUndefined();
    }
    clock.advance(1000);
    expect((await app.inject({ method: 'GET', url: '/v1/thing' })).statusCode).toBe(200);
  });

  it('keeps the map at its cap when 2000 clients each send a request', async () => {
    const { app, limiter } = await server();
    for (let i = 0; i < 2000; i++) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/thing',
        remoteAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      });
      expect(res.statusCode).toBe(200);
    }
    expect(limiter.size).toBe(50);
  });

  it('registers nothing when the rate is 0', async () => {
    app = Fastify();
    expect(
      registerRateLimit(app, { settings: { ratePerSecond: 0, burst: 10, maxKeys: 10 } }),
    ).toBeUndefined();
  });
});
