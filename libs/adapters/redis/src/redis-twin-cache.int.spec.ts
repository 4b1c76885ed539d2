import { CachedTwin } from '@twinstore/application';
import { Version, VersionGenerator } from '@twinstore/domain';
import { describeTwinCacheContract, startRedisServer, TestRedisServer } from '@twinstore/testing';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisTwinCache, RedisTwinCacheOptions } from './redis-twin-cache.adapter';

let server: TestRedisServer;
let probe: Redis;
let fixtureCounter = 0;

beforeAll(async () => {
  server = await startRedisServer();
  probe = new Redis(server.url);
});

afterAll(async () => {
  await probe?.quit();
  await server?.stop();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describeTwinCacheContract('RedisTwinCache', async () => {
  const keyPrefix = `${server.keyPrefix}c${++fixtureCounter}:`;
  const caches = [new RedisTwinCache({ url: server.url, keyPrefix })];
  return {
    subject: caches[0],
    ttlJitter: 0.1,
    elapse: (ms) => sleep(ms),
    remainingTtlMs: async (leadId) => {
      const ms = await probe.pttl(`${keyPrefix}{${leadId}}`);
      return ms < 0 ? null : ms;
    },
    sibling: async () => {
      const cache = new RedisTwinCache({ url: server.url, keyPrefix });
      caches.push(cache);
      return cache;
    },
    cleanup: async () => {
      await Promise.all(caches.map((c) => c.close()));
    },
  };
});

describe('RedisTwinCache on Redis', () => {
  let keyPrefix: string;
  let next: () => Version;
  const opened: RedisTwinCache[] = [];
  const make = (options: RedisTwinCacheOptions = {}) => {
    const cache = new RedisTwinCache({ url: server.url, keyPrefix, ...options });
    opened.push(cache);
    return cache;
  };
  const twin = (leadId: string, version: Version, markdown = 'content'): CachedTwin => ({
    leadId,
    version,
    classification: 'hot',
    markdown: Buffer.from(markdown, 'utf8'),
  });

  beforeEach(() => {
    keyPrefix = `${server.keyPrefix}r${++fixtureCounter}:`;
    let versionMs = Date.UTC(2025, 0, 1);
    const generator = new VersionGenerator(() => new Date(versionMs++));
    next = () => generator.next();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  it('keeps one hash per lead (version, classification, raw markdown) and a guard, both hash-tagged', async () => {
    const cache = make();
    const version = next();
    const markdown = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0xf0, 0x9f, 0x9a, 0x80]);
    await cache.set({ leadId: 'lead-1', version, classification: 'warm', markdown }, 300);
    const [v, c, m] = await probe.hmgetBuffer(`${keyPrefix}{lead-1}`, 'v', 'c', 'm');
    expect(v!.toString()).toBe(version);
    expect(c!.toString()).toBe('warm');
    expect(m!.equals(markdown)).toBe(true);
    expect(await probe.get(`${keyPrefix}{lead-1}:guard`)).toBe(`s${version}`);
    expect((await probe.keys(`${keyPrefix}*`)).sort()).toEqual([
      `${keyPrefix}{lead-1}`,
      `${keyPrefix}{lead-1}:guard`,
    ]);
  });

  it('spreads entry TTLs within +-ttlJitter', async () => {
    const cache = make({ ttlJitter: 0.1 });
    const ttls: number[] = [];
    for (let i = 0; i < 40; i++) {
      await cache.set(twin(`lead-${i}`, next()), 3600);
      ttls.push(await probe.pttl(`${keyPrefix}{lead-${i}}`));
    }
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThanOrEqual(3_240_000 - 1000);
      expect(ttl).toBeLessThanOrEqual(3_960_000);
    }
    expect(new Set(ttls.map((t) => Math.round(t / 10_000))).size).toBeGreaterThan(10);
  });

  it('uses the injected randomness for the jitter, and exact TTLs without jitter', async () => {
    const low = make({ ttlJitter: 0.1, random: () => 0 });
    const exact = make({ ttlJitter: 0 });
    await low.set(twin('low', next()), 300);
    await exact.set(twin('exact', next()), 300);
    const lowTtl = await probe.pttl(`${keyPrefix}{low}`);
    const exactTtl = await probe.pttl(`${keyPrefix}{exact}`);
    expect(lowTtl).toBeLessThanOrEqual(270_000);
    expect(lowTtl).toBeGreaterThan(269_000);
    expect(exactTtl).toBeLessThanOrEqual(300_000);
    expect(exactTtl).toBeGreaterThan(299_000);
  });

  it('keeps a tombstone for guardTtlSeconds (3600 s by default)', async () => {
    await make().invalidate('gone', next());
    const ttl = await probe.pttl(`${keyPrefix}{gone}:guard`);
    expect(ttl).toBeGreaterThan(3_599_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('forgets a tombstone after guardTtlSeconds', async () => {
    const cache = make({ guardTtlSeconds: 0.5 });
    const [v1, vDeleted] = [next(), next()];
    await cache.invalidate('a', vDeleted);
    expect(await cache.set(twin('a', v1), 3600)).toBe('stale');
    await sleep(700);
    expect(await cache.set(twin('a', v1), 3600)).toBe('applied');
  });

  it('keeps the version floor at least as long as an entry that outlives guardTtlSeconds', async () => {
    await make({ ttlJitter: 0 }).set(twin('long', next()), 7200);
    expect(await probe.pttl(`${keyPrefix}{long}:guard`)).toBeGreaterThan(7_199_000);
  });

  it('isolates caches by key prefix', async () => {
    const a = make({ keyPrefix: `${keyPrefix}a:` });
    const b = make({ keyPrefix: `${keyPrefix}b:` });
    const version = next();
    await a.set(twin('same-lead', version, 'from a'), 3600);
    expect(await b.get('same-lead')).toBeNull();
    expect(await b.set(twin('same-lead', version, 'from b'), 3600)).toBe('applied');
    expect((await a.get('same-lead'))!.markdown.toString()).toBe('from a');
  });

  it('recovers when Redis lost its script cache (NOSCRIPT)', async () => {
    const cache = make();
    await cache.set(twin('a', next()), 3600);
    await probe.script('FLUSH');
    const version = next();
    expect(await cache.set(twin('a', version), 3600)).toBe('applied');
    await probe.script('FLUSH');
    await cache.invalidate('a', next());
    expect(await cache.get('a')).toBeNull();
  });

  it('close() quits a client it created, and leaves a client it was given open', async () => {
    const given = new Redis(server.url);
    try {
      const borrowing = new RedisTwinCache({ client: given, keyPrefix });
      await borrowing.set(twin('a', next()), 3600);
      await borrowing.close();
      expect(await given.ping()).toBe('PONG');
    } finally {
      await given.quit();
    }
    const owning = new RedisTwinCache({ url: server.url, keyPrefix });
    await owning.get('a');
    await owning.close();
    await owning.close();
    await expect(owning.get('a')).rejects.toThrow();
  });

  it('refuses a key prefix that would break the per-lead hash tag, and a jitter outside [0, 1)', () => {
    expect(() => new RedisTwinCache({ client: probe, keyPrefix: 'x{y}:' })).toThrow(RangeError);
    expect(() => new RedisTwinCache({ client: probe, ttlJitter: 1 })).toThrow(RangeError);
  });

  it('treats a hash it did not write as a miss', async () => {
    await probe.hset(`${keyPrefix}{foreign}`, 'v', 'not-a-version', 'c', 'hot', 'm', 'x');
    expect(await make().get('foreign')).toBeNull();
  });
});
