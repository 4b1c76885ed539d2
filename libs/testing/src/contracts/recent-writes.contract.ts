import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecentWrites, RecentWritesOptions } from '@twinstore/application';
import { contentPath, TwinRecord, Version, VersionGenerator } from '@twinstore/domain';

export const CONTRACT_RECENT_WRITES_HORIZON_MS = 60_000;

export interface RecentWritesFixture {
  subject: RecentWrites;
  /** Another instance over the same storage (its own connection), as another process would have. */
  sibling?(): Promise<RecentWrites>;
  /** Closes the subject and every sibling, and removes what the fixture stored. */
  cleanup(): Promise<void>;
}

/** The behaviour every RecentWrites must have; each implementation's spec calls this once. */
export function describeRecentWritesContract(
  name: string,
  factory: (options: Required<RecentWritesOptions>) => Promise<RecentWritesFixture>,
): void {
  describe(`RecentWrites contract: ${name}`, () => {
    let fx: RecentWritesFixture;
    let store: RecentWrites;
    let clockMs: number;
    let lead: string;
    let nextVersion: () => Version;
    const advance = (ms: number) => (clockMs += ms);

    beforeEach(async () => {
      clockMs = Date.UTC(2030, 0, 1);
      // Versions from their own counter: they keep increasing whatever the fake clock does.
      let versionMs = Date.UTC(2030, 0, 1);
      const generator = new VersionGenerator(() => new Date(versionMs++));
      nextVersion = () => generator.next();
      lead = `lead-${randomBytes(6).toString('hex')}`;
      fx = await factory({ now: () => clockMs, horizonMs: CONTRACT_RECENT_WRITES_HORIZON_MS });
      store = fx.subject;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    const record = (version: Version, leadId = lead, tag = 'a'): TwinRecord => ({
      leadId,
      version,
      blobPath: contentPath(leadId, version),
      contentHash: 'ab'.repeat(32),
      size: 1234,
      savedAt: new Date(clockMs).toISOString(),
      metadata: {
        classification: 'hot',
        tags: [tag, 'ünïcødé ✓'],
        extra: { nested: { list: [1, 'two', null, true] } },
      },
    });

    it('answers null for a lead never noted, and the noted record, whole, once noted', async () => {
      expect(await store.latest(lead)).toBeNull();
      const r = record(nextVersion());
      await store.note([r]);
      expect(await store.latest(lead)).toEqual(r);
      expect(await store.latest(`${lead}-other`)).toBeNull();
    });

    it('a newer version replaces an older one; an older one never replaces a newer one', async () => {
      const older = record(nextVersion(), lead, 'older');
      const newer = record(nextVersion(), lead, 'newer');
      await store.note([older]);
      await store.note([newer]);
      expect(await store.latest(lead)).toEqual(newer);
      await store.note([older]);
      expect(await store.latest(lead)).toEqual(newer);
      await store.note([{ ...newer, size: 1 }]); // the same version again changes nothing either
      expect((await store.latest(lead))?.size).toBe(newer.size);
    });

    it('notes a batch of many leads in one call; within a batch the newest version of a lead wins', async () => {
      const leads = Array.from({ length: 130 }, (_, i) => `${lead}-${i}`);
      const first = leads.map((l) => record(nextVersion(), l));
      const newer = record(nextVersion(), leads[7], 'newer');
      // The newer one first: order within the batch does not decide, the version does.
      await store.note([newer, ...first]);
      const read = await Promise.all(leads.map((l) => store.latest(l)));
      expect(read[7]).toEqual(newer);
      expect(read.filter((r, i) => i !== 7)).toEqual(first.filter((r, i) => i !== 7));
      await store.note([]);
    });

    it('forget erases the lead, and a late note of a version at or below the deletion is ignored', async () => {
      const saved = record(nextVersion());
      await store.note([saved]);
      const deletion = nextVersion();
      await store.forget(lead, deletion);
      expect(await store.latest(lead)).toBeNull();
      // A save accepted before the DELETE whose note comes after it.
      await store.note([saved]);
      expect(await store.latest(lead)).toBeNull();
      // A save after the DELETE is a new twin.
      const again = record(nextVersion());
      await store.note([again]);
      expect(await store.latest(lead)).toEqual(again);
    });

    it('forget of an older deletion leaves a newer record in place; forgetting an unknown lead is fine', async () => {
      const deletion = nextVersion();
      const newer = record(nextVersion());
      await store.note([newer]);
      await store.forget(lead, deletion);
      expect(await store.latest(lead)).toEqual(newer);
      await store.forget(`${lead}-never`, nextVersion());
      expect(await store.latest(`${lead}-never`)).toBeNull();
    });

    it('keeps a record for the horizon and no longer', async () => {
      const r = record(nextVersion());
      await store.note([r]);
      advance(CONTRACT_RECENT_WRITES_HORIZON_MS - 1);
      expect(await store.latest(lead)).toEqual(r);
      advance(2);
      expect(await store.latest(lead)).toBeNull();
      const later = record(nextVersion());
      await store.note([later]);
      expect(await store.latest(lead)).toEqual(later);
    });

    it('another instance over the same storage sees the notes and the deletions', async () => {
      if (!fx.sibling) return;
      const other = await fx.sibling();
      const r = record(nextVersion());
      await store.note([r]);
      expect(await other.latest(lead)).toEqual(r);
      await other.forget(lead, nextVersion());
      expect(await store.latest(lead)).toBeNull();
    });
  });
}
