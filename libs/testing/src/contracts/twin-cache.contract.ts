import { randomBytes } from 'node:crypto';
import { CachedTwin, TwinCache } from '@twinstore/application';
import { cacheTtlSeconds, Classification, Version, VersionGenerator } from '@twinstore/domain';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** A fake clock the contract hands to each fixture; implementations on real time ignore it. */
export interface TwinCacheTestClock {
  now(): Date;
  advance(ms: number): void;
}

export interface TwinCacheFixture {
  subject: TwinCache;
  /** Lets `ms` pass for the subject: a fake clock advances, a real server is waited for. */
  elapse(ms: number): Promise<void>;
  /** Fraction by which the subject spreads entry TTLs (0 when they are exact). */
  ttlJitter: number;
  /** Remaining lifetime of a lead's entry in ms, when the backend can tell without waiting an hour. */
  remainingTtlMs?(leadId: string): Promise<number | null>;
  /** Another instance over the same storage (its own connection), so writers race across clients. */
  sibling?(): Promise<TwinCache>;
  /** Closes the subject and any sibling, and removes what the fixture stored. */
  cleanup(): Promise<void>;
}

export type TwinCacheFixtureFactory = (clock: TwinCacheTestClock) => Promise<TwinCacheFixture>;

/** The behaviour every TwinCache must have; each implementation's spec calls this once. */
export function describeTwinCacheContract(name: string, factory: TwinCacheFixtureFactory): void {
  describe(`TwinCache contract: ${name}`, () => {
    let fx: TwinCacheFixture;
    let cache: TwinCache;
    let nextVersion: () => Version;
    let lead: string;
    let leadCounter = 0;

    beforeEach(async () => {
      let clockMs = Date.UTC(2025, 0, 1);
      const clock: TwinCacheTestClock = { now: () => new Date(clockMs), advance: (ms) => (clockMs += ms) };
      fx = await factory(clock);
      cache = fx.subject;
      // Versions from their own counter, so they keep increasing whatever the fake clock does.
      let versionMs = Date.UTC(2025, 0, 1);
      const generator = new VersionGenerator(() => new Date(versionMs++));
      nextVersion = () => generator.next();
      lead = `lead-${++leadCounter}-${randomBytes(4).toString('hex')}`;
    });

    afterEach(async () => {
      await fx.cleanup();
    });

    const twin = (
      version: Version,
      markdown: Buffer | string = `# persona ${version}\n`,
      classification: Classification = 'hot',
      leadId = lead,
    ): CachedTwin => ({
      leadId,
      version,
      classification,
      markdown: typeof markdown === 'string' ? Buffer.from(markdown, 'utf8') : markdown,
    });
    const HOT = cacheTtlSeconds('hot');

    it('misses a lead it never saw', async () => {
      expect(await cache.get(lead)).toBeNull();
    });

    it('round-trips markdown byte for byte, binary content included', async () => {
      const tricky = Buffer.concat([
        Buffer.from('# Ana Lima\r\nline two\r\n\r\n- item\n', 'utf8'),
        Buffer.from('emoji 👩‍💼🚀 and ü ß 漢字\n', 'utf8'),
        Buffer.from([0x00, 0x00, 0x01, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x00, 0xc3]),
      ]);
      // A view into a larger buffer: implementations must honour byteOffset and length.
      const padded = Buffer.concat([Buffer.from('XXXX'), tricky, Buffer.from('YYYY')]);
      const view = padded.subarray(4, 4 + tricky.length);
      const samples: [string, Buffer][] = [
        ['tricky', view],
        ['empty', Buffer.alloc(0)],
        ['one MiB of random bytes', randomBytes(1024 * 1024)],
      ];
      for (const [label, markdown] of samples) {
        const leadId = `${lead}-${label.replace(/\W+/g, '-')}`;
        const version = nextVersion();
        expect(await cache.set(twin(version, markdown, 'warm', leadId), 300), label).toBe('applied');
        const got = await cache.get(leadId);
        expect(got, label).not.toBeNull();
        expect(got!.leadId).toBe(leadId);
        expect(got!.version).toBe(version);
        expect(got!.classification).toBe('warm');
        expect(Buffer.isBuffer(got!.markdown)).toBe(true);
        expect(got!.markdown.equals(markdown), label).toBe(true);
      }
    });

    it('cannot be corrupted through the buffers it is given or returns', async () => {
      const input = Buffer.from('original content', 'utf8');
      await cache.set(twin(nextVersion(), input), HOT);
      input.fill(0x41);
      const first = await cache.get(lead);
      expect(first!.markdown.toString('utf8')).toBe('original content');
      first!.markdown.fill(0x42);
      const second = await cache.get(lead);
      expect(second!.markdown.toString('utf8')).toBe('original content');
    });

    it('replaces an older version with a newer one', async () => {
      const [v1, v2] = [nextVersion(), nextVersion()];
      expect(await cache.set(twin(v1, 'one'), HOT)).toBe('applied');
      expect(await cache.set(twin(v2, 'two'), HOT)).toBe('applied');
      const got = await cache.get(lead);
      expect(got!.version).toBe(v2);
      expect(got!.markdown.toString()).toBe('two');
    });

    it('refuses an older version after a newer one', async () => {
      const [v1, v2] = [nextVersion(), nextVersion()];
      expect(await cache.set(twin(v2, 'two'), HOT)).toBe('applied');
      expect(await cache.set(twin(v1, 'one'), HOT)).toBe('stale');
      const got = await cache.get(lead);
      expect(got!.version).toBe(v2);
      expect(got!.markdown.toString()).toBe('two');
    });

    it('treats a duplicate of the cached version as stale and keeps the first content', async () => {
      const v1 = nextVersion();
      expect(await cache.set(twin(v1, 'first'), HOT)).toBe('applied');
      expect(await cache.set(twin(v1, 'second delivery'), HOT)).toBe('stale');
      expect((await cache.get(lead))!.markdown.toString()).toBe('first');
    });

    it('invalidate drops the entry and blocks sets at or below the deletion version, not newer ones', async () => {
      const [v1, vDeleted, v3] = [nextVersion(), nextVersion(), nextVersion()];
      await cache.set(twin(v1), HOT);
      await cache.invalidate(lead, vDeleted);
      expect(await cache.get(lead)).toBeNull();
      expect(await cache.set(twin(v1), HOT)).toBe('stale');
      expect(await cache.set(twin(vDeleted), HOT)).toBe('stale');
      expect(await cache.get(lead)).toBeNull();
      expect(await cache.set(twin(v3, 'recreated'), HOT)).toBe('applied');
      expect((await cache.get(lead))!.markdown.toString()).toBe('recreated');
    });

    it('invalidate of a lead it never cached still blocks late older sets', async () => {
      const [v1, vDeleted] = [nextVersion(), nextVersion()];
      await cache.invalidate(lead, vDeleted);
      expect(await cache.set(twin(v1), HOT)).toBe('stale');
      expect(await cache.get(lead)).toBeNull();
    });

    it('a late, older invalidate does not lower the tombstone', async () => {
      const [v1, v2, v3, v4] = [nextVersion(), nextVersion(), nextVersion(), nextVersion()];
      await cache.invalidate(lead, v3);
      await cache.invalidate(lead, v1);
      expect(await cache.set(twin(v2), HOT)).toBe('stale');
      expect(await cache.set(twin(v3), HOT)).toBe('stale');
      expect(await cache.set(twin(v4), HOT)).toBe('applied');
    });

    it('invalidate drops even a newer entry, which may then be cached again', async () => {
      const [vDeleted, vBetween, v2] = [nextVersion(), nextVersion(), nextVersion()];
      await cache.set(twin(v2), HOT);
      await cache.invalidate(lead, vDeleted);
      expect(await cache.get(lead)).toBeNull();
      expect(await cache.set(twin(vBetween), HOT)).toBe('stale');
      expect(await cache.set(twin(v2), HOT)).toBe('applied');
      expect((await cache.get(lead))!.version).toBe(v2);
    });

    it('keeps leads apart', async () => {
      const [v1, v2] = [nextVersion(), nextVersion()];
      const other = `${lead}-other`;
      await cache.set(twin(v1, 'mine'), HOT);
      await cache.set(twin(v1, 'theirs', 'hot', other), HOT);
      await cache.invalidate(other, v2);
      expect((await cache.get(lead))!.markdown.toString()).toBe('mine');
      expect(await cache.get(other)).toBeNull();
    });

    describe('ttl 0 (not cached, e.g. cold leads)', () => {
      it('stores nothing and answers applied when nothing is cached', async () => {
        expect(await cache.set(twin(nextVersion(), 'cold', 'cold'), 0)).toBe('applied');
        expect(await cache.get(lead)).toBeNull();
      });

      it('drops an older cached version and blocks it from coming back', async () => {
        const [v1, v2, v3] = [nextVersion(), nextVersion(), nextVersion()];
        await cache.set(twin(v1, 'hot one'), HOT);
        expect(await cache.set(twin(v2, 'now cold', 'cold'), 0)).toBe('applied');
        expect(await cache.get(lead)).toBeNull();
        expect(await cache.set(twin(v1, 'hot one'), HOT)).toBe('stale');
        expect(await cache.get(lead)).toBeNull();
        expect(await cache.set(twin(v2, 'now cold', 'cold'), 0)).toBe('stale');
        expect(await cache.set(twin(v3, 'hot again'), HOT)).toBe('applied');
        expect((await cache.get(lead))!.version).toBe(v3);
      });

      it('leaves a newer cached version alone and answers stale', async () => {
        const [v1, v2] = [nextVersion(), nextVersion()];
        await cache.set(twin(v2, 'newer'), HOT);
        expect(await cache.set(twin(v1, 'older', 'cold'), 0)).toBe('stale');
        expect((await cache.get(lead))!.version).toBe(v2);
      });

      it('answers stale below a tombstone', async () => {
        const [v1, vDeleted] = [nextVersion(), nextVersion()];
        await cache.invalidate(lead, vDeleted);
        expect(await cache.set(twin(v1, 'cold', 'cold'), 0)).toBe('stale');
      });
    });

    describe('time to live', () => {
      it('expires an entry after its TTL', async () => {
        // Wide margins: on a real server the waits are real, and a loaded test machine delays them.
        const ttlMs = 1000;
        await cache.set(twin(nextVersion()), ttlMs / 1000);
        await fx.elapse(ttlMs * (1 - fx.ttlJitter) - 600);
        expect(await cache.get(lead)).not.toBeNull();
        await fx.elapse(ttlMs * 2 * fx.ttlJitter + 800);
        expect(await cache.get(lead)).toBeNull();
      });

      it('keeps an entry for its classification TTL (hot 3600 s, warm 300 s)', async () => {
        for (const classification of ['warm', 'hot'] as const) {
          const leadId = `${lead}-${classification}`;
          const ttlMs = cacheTtlSeconds(classification) * 1000;
          const [low, high] = [ttlMs * (1 - fx.ttlJitter), ttlMs * (1 + fx.ttlJitter)];
          await cache.set(twin(nextVersion(), 'x', classification, leadId), cacheTtlSeconds(classification));
          if (fx.remainingTtlMs) {
            const remaining = await fx.remainingTtlMs(leadId);
            expect(remaining).not.toBeNull();
            expect(remaining!).toBeGreaterThanOrEqual(low - 1000);
            expect(remaining!).toBeLessThanOrEqual(high);
          } else {
            await fx.elapse(low - 1);
            expect(await cache.get(leadId), classification).not.toBeNull();
            await fx.elapse(high - low + 2);
            expect(await cache.get(leadId), classification).toBeNull();
          }
        }
      });

      it('remembers the version after the entry expired: older is refused, the same is cached again', async () => {
        const [v1, v2] = [nextVersion(), nextVersion()];
        const ttlMs = 300;
        await cache.set(twin(v2, 'current'), ttlMs / 1000);
        await fx.elapse(ttlMs * (1 + fx.ttlJitter) + 150);
        expect(await cache.get(lead)).toBeNull();
        expect(await cache.set(twin(v1, 'late event'), HOT)).toBe('stale');
        expect(await cache.set(twin(v2, 'current'), HOT)).toBe('applied');
        expect((await cache.get(lead))!.markdown.toString()).toBe('current');
      });
    });

    describe('setMany (batches)', () => {
      it('sets a batch of leads, one result per entry in order, with the same compare-and-set as set', async () => {
        const other = `${lead}-other`;
        const cold = `${lead}-cold`;
        const [a, b, c] = [nextVersion(), nextVersion(), nextVersion()];
        await cache.set(twin(b), HOT);
        await cache.set(twin(a, 'old', 'hot', cold), HOT);
        const results = await cache.setMany([
          { entry: twin(a), ttlSeconds: HOT },
          { entry: twin(c, 'other lead', 'warm', other), ttlSeconds: cacheTtlSeconds('warm') },
          { entry: twin(b, 'cold now', 'cold', cold), ttlSeconds: 0 },
        ]);
        expect(results).toEqual(['stale', 'applied', 'applied']);
        expect((await cache.get(lead))!.version).toBe(b);
        expect((await cache.get(other))!.markdown.toString()).toBe('other lead');
        expect(await cache.get(cold)).toBeNull();
      });

      it('converges on the newest entry of a lead, duplicates and older-after-newer included', async () => {
        const versions = [nextVersion(), nextVersion(), nextVersion()];
        const order = [versions[1], versions[0], versions[2], versions[1], versions[2]];
        const results = await cache.setMany(
          order.map((v) => ({ entry: twin(v, `content of ${v}`), ttlSeconds: HOT })),
        );
        expect(results).toEqual(['applied', 'stale', 'applied', 'stale', 'stale']);
        const got = await cache.get(lead);
        expect(got!.version).toBe(versions[2]);
        expect(got!.markdown.toString()).toBe(`content of ${versions[2]}`);
      });

      it('respects a deletion tombstone for every entry of the batch', async () => {
        const [a, deletedAt, c] = [nextVersion(), nextVersion(), nextVersion()];
        await cache.invalidate(lead, deletedAt);
        const results = await cache.setMany([
          { entry: twin(a), ttlSeconds: HOT },
          { entry: twin(deletedAt), ttlSeconds: HOT },
          { entry: twin(c), ttlSeconds: HOT },
        ]);
        expect(results).toEqual(['stale', 'stale', 'applied']);
        expect((await cache.get(lead))!.version).toBe(c);
      });

      it('an empty batch answers nothing', async () => {
        expect(await cache.setMany([])).toEqual([]);
      });
    });

    describe('concurrency', () => {
      const shuffle = <T>(items: T[]): T[] => {
        const out = [...items];
        for (let i = out.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [out[i], out[j]] = [out[j], out[i]];
        }
        return out;
      };

      it('converges on the newest of 50 versions set at once in random order', async () => {
        const other = fx.sibling ? await fx.sibling() : cache;
        const versions = Array.from({ length: 50 }, () => nextVersion());
        const newest = versions[versions.length - 1];
        const order = shuffle(versions);
        const results = await Promise.all(
          order.map((v, i) => (i % 2 === 0 ? cache : other).set(twin(v, `content of ${v}`), HOT)),
        );
        expect(results[order.indexOf(newest)]).toBe('applied');
        expect(results.filter((r) => r === 'applied').length).toBeGreaterThanOrEqual(1);
        for (const reader of [cache, other]) {
          const got = await reader.get(lead);
          expect(got!.version).toBe(newest);
          expect(got!.markdown.toString()).toBe(`content of ${newest}`);
        }
      });

      it('never lets a version at or below a concurrent deletion survive', async () => {
        const other = fx.sibling ? await fx.sibling() : cache;
        const versions = Array.from({ length: 50 }, () => nextVersion());
        const deletedAt = versions[24];
        const sets = shuffle(versions.filter((v) => v !== deletedAt));
        await Promise.all([
          ...sets.map((v, i) => (i % 2 === 0 ? cache : other).set(twin(v), HOT)),
          other.invalidate(lead, deletedAt),
        ]);
        const got = await cache.get(lead);
        if (got) expect(got.version > deletedAt).toBe(true);
        expect(await cache.set(twin(versions[10]), HOT)).toBe('stale');
        expect(await cache.set(twin(deletedAt), HOT)).toBe('stale');
      });
    });

    describe('input checks', () => {
      it('rejects a negative or non-finite ttl', async () => {
        await expect(cache.set(twin(nextVersion()), -1)).rejects.toThrow(RangeError);
        await expect(cache.set(twin(nextVersion()), Number.NaN)).rejects.toThrow(RangeError);
        expect(await cache.get(lead)).toBeNull();
      });

      it('rejects a version that is not a ULID', async () => {
        await expect(cache.set(twin('not-a-version' as Version), HOT)).rejects.toThrow(/ULID/);
        await expect(cache.invalidate(lead, 'v2' as Version)).rejects.toThrow(/ULID/);
      });
    });
  });
}
