import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActivityStore, BlobTiering, ContentStore, LeaseLock, TierLedger } from '@twinstore/application';
import { DEFAULT_TIER_THRESHOLDS, Version, VersionGenerator } from '@twinstore/domain';

export interface TieringContractSubject<T> {
  subject: T;
  cleanup(): Promise<void>;
}

const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 1);
const at = (offsetMs: number) => new Date(T + offsetMs);

function mintVersions(count: number): Version[] {
  let ms = Date.UTC(2026, 10, 28);
  const generator = new VersionGenerator(() => new Date((ms += 1000)));
  return Array.from({ length: count }, () => generator.next());
}

/** Placement bookkeeping of the tier lifecycle, on every activity store backend. */
export function describeTierLedgerContract(
  name: string,
  factory: () => Promise<TieringContractSubject<ActivityStore & TierLedger>>,
): void {
  describe(`TierLedger contract: ${name}`, () => {
    let store: ActivityStore & TierLedger;
    let cleanup: () => Promise<void>;
    const v = mintVersions(4);

    beforeEach(async () => {
      ({ subject: store, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('lists hot and warm twins whose tier at now differs from their placement, up to the limit', async () => {
      await store.recordWrite('fresh', v[0], at(-1 * DAY));
      await store.recordWrite('month', v[0], at(-40 * DAY));
      await store.recordWrite('year', v[0], at(-400 * DAY));
      const all = await store.tierCandidates(at(0), DEFAULT_TIER_THRESHOLDS, 100);
      expect(all.map((c) => [c.leadId, c.version, c.from, c.to]).sort()).toEqual([
        ['month', v[0], 'hot', 'warm'],
        ['year', v[0], 'hot', 'cold'],
      ]);
      expect(await store.tierCandidates(at(0), DEFAULT_TIER_THRESHOLDS, 1)).toHaveLength(1);
      // listing changes nothing
      expect((await store.get('month'))!.tier).toBe('hot');
    });

    it('records placement with the bundle location, conditional on the version', async () => {
      await store.recordWrite('lead-1', v[1], at(-400 * DAY));
      const location = { bundle: 'tiering/bundles/2030/01/01/b1.bundle', offset: 120, length: 9000 };
      expect(await store.setPlacement('lead-1', v[0], 'cold', location)).toBe('stale');
      expect(await store.setPlacement('nobody', v[1], 'cold', location)).toBe('stale');
      expect(await store.setPlacement('lead-1', v[1], 'cold', location)).toBe('applied');
      expect(await store.locate('lead-1')).toEqual({ version: v[1], tier: 'cold', location });
      expect((await store.get('lead-1'))!.tier).toBe('cold');
      expect(await store.bundleMembers(location.bundle)).toEqual([
        { leadId: 'lead-1', version: v[1], location },
      ]);
      // cold twins are not candidates: they come back through rehydration or a write
      expect(await store.tierCandidates(at(0), DEFAULT_TIER_THRESHOLDS, 10)).toEqual([]);
      // placement without a location drops the index entry
      expect(await store.setPlacement('lead-1', v[1], 'cold')).toBe('applied');
      // the bundle still holds its (now dead) bytes: it is remembered for erasure
      expect(await store.locate('lead-1')).toEqual({
        version: v[1],
        tier: 'cold',
        retired: [location.bundle],
      });
      expect(await store.bundleMembers(location.bundle)).toEqual([]);
    });

    it('an access keeps the location; a newer write makes the twin hot and drops it', async () => {
      const location = { bundle: 'tiering/bundles/b2.bundle', offset: 10, length: 5 };
      await store.recordWrite('lead-2', v[1], at(-400 * DAY));
      await store.setPlacement('lead-2', v[1], 'cold', location);
      await store.recordAccess('lead-2', at(0));
      expect((await store.locate('lead-2'))!.location).toEqual(location);
      await store.recordWrite('lead-2', v[2], at(0));
      expect(await store.locate('lead-2')).toEqual({
        version: v[2],
        tier: 'hot',
        retired: [location.bundle],
      });
      expect(await store.bundleMembers(location.bundle)).toEqual([]);
    });

    it('remembers each bundle left behind once; moving within the same bundle retires nothing', async () => {
      const one = { bundle: 'tiering/bundles/one.bundle', offset: 10, length: 5 };
      const two = { bundle: 'tiering/bundles/two.bundle', offset: 20, length: 5 };
      await store.recordWrite('lead-3', v[1], at(-400 * DAY));
      expect(await store.locate('lead-3')).toEqual({ version: v[1], tier: 'hot' });
      await store.setPlacement('lead-3', v[1], 'cold', one);
      await store.setPlacement('lead-3', v[1], 'cold', { ...one, offset: 30 });
      expect((await store.locate('lead-3'))!.retired).toBeUndefined();
      await store.setPlacement('lead-3', v[1], 'cold', two);
      await store.setPlacement('lead-3', v[1], 'hot');
      await store.setPlacement('lead-3', v[1], 'cold', one);
      await store.setPlacement('lead-3', v[1], 'hot');
      expect((await store.locate('lead-3'))!.retired!.sort()).toEqual([one.bundle, two.bundle]);
    });

    it('the label-only sweep leaves bundled twins alone', async () => {
      const location = { bundle: 'tiering/bundles/b4.bundle', offset: 1, length: 1 };
      await store.recordWrite('bundled', v[1], at(-400 * DAY));
      await store.setPlacement('bundled', v[1], 'cold', location);
      await store.recordAccess('bundled', at(0));
      await store.sweep(at(1000), DEFAULT_TIER_THRESHOLDS);
      expect(await store.locate('bundled')).toEqual({ version: v[1], tier: 'cold', location });
    });

    it('members of a bundle come in offset order; removed twins are not members', async () => {
      const bundle = 'tiering/bundles/b3.bundle';
      for (const [i, id] of ['c', 'a', 'b'].entries()) {
        await store.recordWrite(id, v[0], at(-400 * DAY));
        await store.setPlacement(id, v[0], 'cold', { bundle, offset: 100 - i * 10, length: 3 });
      }
      await store.remove('a', v[3]);
      expect((await store.bundleMembers(bundle)).map((m) => m.leadId)).toEqual(['b', 'c']);
      await store.recordWrite('other', v[0], at(-400 * DAY));
      await store.setPlacement('other', v[0], 'cold', {
        bundle: 'tiering/bundles/b5.bundle',
        offset: 1,
        length: 1,
      });
      expect([...(await store.bundleLiveCounts())].sort()).toEqual([
        [bundle, 2],
        ['tiering/bundles/b5.bundle', 1],
      ]);
      expect(await store.locate('a')).toBeNull();
    });
  });
}

/** Access tiers and copy-based rehydration, on every content store backend. */
export function describeBlobTieringContract(
  name: string,
  factory: () => Promise<TieringContractSubject<ContentStore & BlobTiering>>,
): void {
  describe(`BlobTiering contract: ${name}`, () => {
    let store: ContentStore & BlobTiering;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ subject: store, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('moves a blob between tiers; false for a missing blob', async () => {
      await store.put('tiering/t/a.bin', Buffer.from('abc'), { contentType: 'application/octet-stream' });
      expect(await store.setTier('tiering/t/a.bin', 'cool')).toBe(true);
      expect((await store.head('tiering/t/a.bin'))!.tier).toBe('cool');
      expect(await store.setTier('tiering/t/a.bin', 'archive')).toBe(true);
      expect((await store.head('tiering/t/a.bin'))!.tier).toBe('archive');
      expect(await store.setTier('tiering/t/missing.bin', 'cool')).toBe(false);
    });

    it('rehydrates an archived blob by copying it to a new Hot blob, with its metadata', async () => {
      const body = Buffer.from([0, 1, 2, 255, 10, 13]);
      await store.put('tiering/t/src.bundle', body, {
        contentType: 'application/x-test',
        metadata: { entries: '2' },
      });
      await store.setTier('tiering/t/src.bundle', 'archive');
      expect(await store.rehydrationState('tiering/t/copy')).toBe('missing');
      expect(await store.startRehydration('tiering/t/src.bundle', 'tiering/t/copy', 'high')).toBe(
        'completed',
      );
      expect(await store.rehydrationState('tiering/t/copy')).toBe('completed');
      const copy = await store.get('tiering/t/copy');
      expect(copy!.body.equals(body)).toBe(true);
      expect(copy!.properties.tier).toBe('hot');
      expect(copy!.properties.metadata).toMatchObject({ entries: '2' });
      // the source stays archived; starting again is a no-op
      expect((await store.head('tiering/t/src.bundle'))!.tier).toBe('archive');
      expect(await store.startRehydration('tiering/t/src.bundle', 'tiering/t/copy', 'standard')).toBe(
        'completed',
      );
      expect(await store.startRehydration('tiering/t/none', 'tiering/t/copy2', 'standard')).toBe('missing');
    });
  });
}

/** Named leases with expiry, on every lease backend. */
export function describeLeaseLockContract(
  name: string,
  factory: () => Promise<TieringContractSubject<{ a: LeaseLock; b: LeaseLock }>>,
): void {
  describe(`LeaseLock contract: ${name}`, () => {
    let a: LeaseLock;
    let b: LeaseLock;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const made = await factory();
      ({ a, b } = made.subject);
      cleanup = made.cleanup;
    });
    afterEach(async () => {
      await cleanup();
    });

    it('one holder at a time, across two clients; free again once released', async () => {
      const held = await a.tryAcquire('sweep', 30);
      expect(held).not.toBeNull();
      expect(await b.tryAcquire('sweep', 30)).toBeNull();
      expect(await a.tryAcquire('sweep', 30)).toBeNull();
      expect(await b.tryAcquire('other', 30)).not.toBeNull();
      expect(await held!.renew()).toBe(true);
      await held!.release();
      const next = await b.tryAcquire('sweep', 30);
      expect(next).not.toBeNull();
      await next!.release();
    });

    it('of many concurrent attempts exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).tryAcquire('race', 30)),
      );
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });
  });
}
