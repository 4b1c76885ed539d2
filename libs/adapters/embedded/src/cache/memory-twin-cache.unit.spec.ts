import { CachedTwin } from '@twinstore/application';
import { Version, VersionGenerator } from '@twinstore/domain';
import { describeTwinCacheContract } from '@twinstore/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryTwinCache, MemoryTwinCacheOptions } from './memory-twin-cache.adapter';

describeTwinCacheContract('MemoryTwinCache', async (clock) => {
  const subject = new MemoryTwinCache({ now: () => clock.now().getTime() });
  return {
    subject,
    ttlJitter: 0,
    elapse: async (ms) => clock.advance(ms),
    cleanup: () => subject.close(),
  };
});

describe('MemoryTwinCache bounds', () => {
  let nowMs: number;
  let next: () => Version;
  const make = (options: MemoryTwinCacheOptions = {}) =>
    new MemoryTwinCache({ now: () => nowMs, ...options });
  const twin = (leadId: string, version: Version, size = 10): CachedTwin => ({
    leadId,
    version,
    classification: 'hot',
    markdown: Buffer.alloc(size, 0x61),
  });

  beforeEach(() => {
    nowMs = Date.UTC(2025, 0, 1);
    let versionMs = nowMs;
    const generator = new VersionGenerator(() => new Date(versionMs++));
    next = () => generator.next();
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = make({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) await cache.set(twin(id, next()), 3600);
    await cache.get('a');
    await cache.set(twin('d', next()), 3600);
    expect(await cache.get('b')).toBeNull();
    for (const id of ['a', 'c', 'd']) expect(await cache.get(id), id).not.toBeNull();
    expect(cache.stats().entries).toBe(3);
  });

  it('evicts the least recently used entries beyond maxBytes of markdown', async () => {
    const cache = make({ maxBytes: 100 });
    await cache.set(twin('a', next(), 40), 3600);
    await cache.set(twin('b', next(), 40), 3600);
    await cache.get('a');
    await cache.set(twin('c', next(), 40), 3600);
    expect(await cache.get('b')).toBeNull();
    expect(await cache.get('a')).not.toBeNull();
    expect(await cache.get('c')).not.toBeNull();
    expect(cache.stats().bytes).toBe(80);
    // One large entry can push out several small ones.
    await cache.set(twin('d', next(), 90), 3600);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 90 });
    expect(await cache.get('d')).not.toBeNull();
  });

  it('counts the bytes of the replacing version, not both', async () => {
    const cache = make({ maxBytes: 100 });
    await cache.set(twin('a', next(), 60), 3600);
    await cache.set(twin('a', next(), 10), 3600);
    await cache.set(twin('b', next(), 85), 3600);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 95 });
  });

  it('does not store markdown larger than maxBytes but drops the older version like ttl 0', async () => {
    const cache = make({ maxBytes: 100 });
    const [v1, v2] = [next(), next()];
    await cache.set(twin('a', v1, 50), 3600);
    await cache.set(twin('other', next(), 40), 3600);
    expect(await cache.set(twin('a', v2, 101), 3600)).toBe('applied');
    expect(await cache.get('a')).toBeNull();
    expect(await cache.get('other')).not.toBeNull();
    expect(await cache.set(twin('a', v1, 50), 3600)).toBe('stale');
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 40 });
  });

  it('refuses an older version after the newer one was evicted', async () => {
    const cache = make({ maxEntries: 1 });
    const [v1, v2] = [next(), next()];
    await cache.set(twin('a', v2), 3600);
    await cache.set(twin('b', next()), 3600);
    expect(await cache.get('a')).toBeNull();
    expect(await cache.set(twin('a', v1), 3600)).toBe('stale');
    expect(await cache.set(twin('a', v2), 3600)).toBe('applied');
  });

  it('keeps a tombstone for guardTtlSeconds (3600 s by default), then forgets it', async () => {
    const cache = make();
    const [v1, vDeleted] = [next(), next()];
    await cache.invalidate('a', vDeleted);
    nowMs += 3_599_999;
    expect(await cache.set(twin('a', v1), 3600)).toBe('stale');
    nowMs += 1;
    expect(await cache.set(twin('a', v1), 3600)).toBe('applied');
    expect(cache.stats().guards).toBe(1);
  });

  it('keeps the version floor as long as an entry that lives longer than guardTtlSeconds', async () => {
    const cache = make({ maxEntries: 1 });
    const [v1, v2] = [next(), next()];
    await cache.set(twin('a', v2), 7200);
    await cache.set(twin('b', next()), 7200);
    nowMs += 7_000_000;
    expect(await cache.set(twin('a', v1), 3600)).toBe('stale');
  });

  it('bounds tombstones: beyond maxGuards the oldest is forgotten first', async () => {
    const cache = make({ maxGuards: 2 });
    const older = next();
    const deletions = [next(), next(), next()];
    await cache.invalidate('a', deletions[0]);
    await cache.invalidate('b', deletions[1]);
    await cache.invalidate('c', deletions[2]);
    expect(cache.stats().guards).toBe(2);
    expect(await cache.set(twin('a', older), 3600)).toBe('applied');
    expect(await cache.set(twin('c', older), 3600)).toBe('stale');
    expect(cache.stats().guards).toBe(2);
  });

  it('releases the bytes and guards of expired entries as later writes sweep them', async () => {
    const cache = make();
    await cache.set(twin('a', next(), 1000), 1);
    await cache.invalidate('z', next());
    nowMs += 3_600_001;
    await cache.set(twin('b', next(), 10), 3600);
    expect(cache.stats()).toEqual({ entries: 1, bytes: 10, guards: 1 });
  });

  it('refuses nonsensical bounds', () => {
    expect(() => make({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => make({ maxBytes: 1.5 })).toThrow(RangeError);
    expect(() => make({ maxGuards: -1 })).toThrow(RangeError);
    expect(() => make({ guardTtlSeconds: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('close() empties it', async () => {
    const cache = make();
    await cache.set(twin('a', next()), 3600);
    await cache.close();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0, guards: 0 });
    expect(await cache.get('a')).toBeNull();
  });
});
