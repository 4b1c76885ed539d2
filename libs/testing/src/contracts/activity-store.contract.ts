import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActivityStore } from '@twinstore/application';
import {
  DEFAULT_TIER_THRESHOLDS,
  deriveTier,
  Tier,
  TierThresholds,
  Version,
  VersionGenerator,
} from '@twinstore/domain';

export interface ActivityStoreContractSubject {
  subject: ActivityStore;
  cleanup(): Promise<void>;
}

const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 1);
const at = (offsetMs: number) => new Date(T + offsetMs);

/** Versions minted in order, so `v[i] < v[j]` for `i < j`. */
function mintVersions(count: number): Version[] {
  let ms = Date.UTC(2026, 10, 28);
  const generator = new VersionGenerator(() => new Date((ms += 1000)));
  return Array.from({ length: count }, () => generator.next());
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The behaviour every ActivityStore must have: guarded writes, monotonic access times, tier sweeps. */
export function describeActivityStoreContract(
  name: string,
  factory: () => Promise<ActivityStoreContractSubject>,
): void {
  describe(`ActivityStore contract: ${name}`, () => {
    let store: ActivityStore;
    let cleanup: () => Promise<void>;
    const v = mintVersions(10);

    beforeEach(async () => {
      const made = await factory();
      store = made.subject;
      cleanup = made.cleanup;
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('recordWrites (batches)', () => {
      it('records a batch of leads, one result per write in order, new and known leads mixed', async () => {
        await store.recordWrite('lead-2', v[1], at(1000));
        await store.recordWrite('lead-3', v[5], at(5000));
        const results = await store.recordWrites([
          { leadId: 'lead-1', version: v[2], at: at(2000) },
          { leadId: 'lead-2', version: v[3], at: at(3000) },
          { leadId: 'lead-3', version: v[4], at: at(4000) },
        ]);
        expect(results).toEqual(['applied', 'applied', 'stale']);
        expect(await store.get('lead-1')).toMatchObject({
          version: v[2],
          lastWriteAt: at(2000).toISOString(),
        });
        expect(await store.get('lead-2')).toMatchObject({
          version: v[3],
          lastWriteAt: at(3000).toISOString(),
        });
        expect(await store.get('lead-3')).toMatchObject({ version: v[5] });
      });

      it.each([1, 2, 3])(
        'converges on the newest write of a lead whatever the order in the batch (seed %i)',
        async (seed) => {
          await store.recordWrite('lead-1', v[2], at(2000));
          const batch = shuffled([0, 3, 6, 6, 4, 1], seed).map((i) => ({
            leadId: 'lead-1',
            version: v[i],
            at: at(i * 1000),
          }));
          const results = await store.recordWrites(batch);
          expect(await store.get('lead-1')).toMatchObject({
            version: v[6],
            lastWriteAt: at(6000).toISOString(),
          });
          results.forEach((r, i) => {
            if (batch[i].version <= v[2]) expect(r).toBe('stale');
          });
          expect(results.filter((r, i) => batch[i].version === v[6] && r === 'applied')).toHaveLength(1);
        },
      );

      it('honours deletion tombstones: writes at or below are stale, newer ones apply', async () => {
        await store.recordWrite('lead-1', v[0], at(0));
        await store.remove('lead-1', v[3]);
        await store.remove('lead-2', v[3]);
        const results = await store.recordWrites([
          { leadId: 'lead-1', version: v[2], at: at(2000) },
          { leadId: 'lead-2', version: v[3], at: at(3000) },
          { leadId: 'lead-2', version: v[4], at: at(4000) },
        ]);
        expect(results).toEqual(['stale', 'stale', 'applied']);
        expect(await store.get('lead-1')).toBeNull();
        expect(await store.get('lead-2')).toMatchObject({ version: v[4], tier: 'hot' });
      });

      it('records a large batch of many leads, some known already', async () => {
        const leads = Array.from({ length: 150 }, (_, i) => `lead-${i}`);
        for (const leadId of leads.slice(0, 20)) await store.recordWrite(leadId, v[1], at(1000));
        const results = await store.recordWrites(
          leads.map((leadId) => ({ leadId, version: v[2], at: at(2000) })),
        );
        expect(results.every((r) => r === 'applied')).toBe(true);
        for (const leadId of [leads[0], leads[19], leads[20], leads[149]]) {
          expect(await store.get(leadId)).toMatchObject({
            version: v[2],
            lastWriteAt: at(2000).toISOString(),
          });
        }
        expect((await store.countByTier()).hot).toBe(150);
      });

      it('an empty batch answers nothing', async () => {
        expect(await store.recordWrites([])).toEqual([]);
      });
    });

    describe('writes', () => {
      it('records the first write of a lead as hot, never accessed', async () => {
        expect(await store.recordWrite('lead-1', v[0], at(0))).toBe('applied');
        expect(await store.get('lead-1')).toEqual({
          leadId: 'lead-1',
          version: v[0],
          lastWriteAt: at(0).toISOString(),
          lastAccessAt: null,
          tier: 'hot',
        });
      });

      it('get of an unknown lead is null', async () => {
        expect(await store.get('nobody')).toBeNull();
      });

      it('a newer version applies; the same or an older one is stale and changes nothing', async () => {
        await store.recordWrite('lead-1', v[3], at(3000));
        expect(await store.recordWrite('lead-1', v[3], at(9000))).toBe('stale');
        expect(await store.recordWrite('lead-1', v[2], at(9000))).toBe('stale');
        expect(await store.get('lead-1')).toMatchObject({
          version: v[3],
          lastWriteAt: at(3000).toISOString(),
        });
        expect(await store.recordWrite('lead-1', v[4], at(4000))).toBe('applied');
        expect(await store.get('lead-1')).toMatchObject({
          version: v[4],
          lastWriteAt: at(4000).toISOString(),
        });
      });

      it.each([1, 2, 3])('writes in any order, with duplicates, converge (order #%i)', async (seed) => {
        const deliveries = shuffled([0, 1, 2, 3, 4, 2, 4, 0], seed);
        for (const i of deliveries) await store.recordWrite('lead-1', v[i], at(i * DAY));
        expect(await store.get('lead-1')).toMatchObject({
          version: v[4],
          lastWriteAt: at(4 * DAY).toISOString(),
        });
      });

      it('a newer write makes a cold twin hot again', async () => {
        await store.recordWrite('lead-1', v[0], at(-400 * DAY));
        await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS);
        expect((await store.get('lead-1'))!.tier).toBe('cold');
        await store.recordWrite('lead-1', v[1], at(0));
        expect((await store.get('lead-1'))!.tier).toBe('hot');
      });
    });

    describe('accesses', () => {
      it('records the latest access only', async () => {
        await store.recordWrite('lead-1', v[0], at(0));
        await store.recordAccess('lead-1', at(5000));
        expect((await store.get('lead-1'))!.lastAccessAt).toBe(at(5000).toISOString());
        await store.recordAccess('lead-1', at(4000));
        expect((await store.get('lead-1'))!.lastAccessAt).toBe(at(5000).toISOString());
        await store.recordAccess('lead-1', at(6000));
        expect(await store.get('lead-1')).toMatchObject({
          version: v[0],
          lastWriteAt: at(0).toISOString(),
          lastAccessAt: at(6000).toISOString(),
        });
      });

      it('ignores accesses to unknown or removed leads', async () => {
        await store.recordAccess('nobody', at(0));
        expect(await store.get('nobody')).toBeNull();
        await store.recordWrite('lead-1', v[0], at(0));
        await store.remove('lead-1', v[1]);
        await store.recordAccess('lead-1', at(1000));
        expect(await store.get('lead-1')).toBeNull();
      });
    });

    describe('remove and tombstones', () => {
      it('removes the lead; writes at or below the deletion stay out, newer ones come back', async () => {
        await store.recordWrite('lead-1', v[1], at(0));
        expect(await store.remove('lead-1', v[3])).toBe('applied');
        expect(await store.get('lead-1')).toBeNull();
        expect(await store.recordWrite('lead-1', v[2], at(1))).toBe('stale');
        expect(await store.recordWrite('lead-1', v[3], at(1))).toBe('stale');
        expect(await store.get('lead-1')).toBeNull();
        expect(await store.recordWrite('lead-1', v[4], at(2))).toBe('applied');
        expect((await store.get('lead-1'))!.version).toBe(v[4]);
      });

      it('a duplicate or older removal is stale; a newer one applies', async () => {
        expect(await store.remove('lead-1', v[5])).toBe('applied');
        expect(await store.remove('lead-1', v[5])).toBe('stale');
        expect(await store.remove('lead-1', v[4])).toBe('stale');
        expect(await store.remove('lead-1', v[6])).toBe('applied');
        expect(await store.recordWrite('lead-1', v[6], at(0))).toBe('stale');
      });

      it('removing an unknown lead blocks a late older write', async () => {
        expect(await store.remove('ghost', v[4])).toBe('applied');
        expect(await store.recordWrite('ghost', v[2], at(0))).toBe('stale');
        expect(await store.get('ghost')).toBeNull();
      });

      it('a removal older than the current version keeps the newer write', async () => {
        await store.recordWrite('lead-1', v[6], at(0));
        expect(await store.remove('lead-1', v[4])).toBe('applied');
        expect((await store.get('lead-1'))!.version).toBe(v[6]);
      });

      it('removed leads are not counted or swept', async () => {
        await store.recordWrite('lead-1', v[0], at(-400 * DAY));
        await store.recordWrite('lead-2', v[0], at(-400 * DAY));
        await store.remove('lead-1', v[1]);
        expect(await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS)).toBe(1);
        expect(await store.countByTier()).toEqual({ hot: 0, warm: 0, cold: 1 });
      });
    });

    describe('sweep', () => {
      it('derives tiers from the later of last write and last access', async () => {
        await store.recordWrite('recent', v[0], at(-10 * DAY));
        await store.recordWrite('month', v[0], at(-40 * DAY));
        await store.recordWrite('old', v[0], at(-400 * DAY));
        await store.recordWrite('old-but-read', v[0], at(-400 * DAY));
        await store.recordAccess('old-but-read', at(-1 * DAY));
        await store.recordWrite('read-a-while-ago', v[0], at(-40 * DAY));
        await store.recordAccess('read-a-while-ago', at(-35 * DAY));
        await store.recordWrite('read-before-write', v[0], at(-40 * DAY));
        await store.recordAccess('read-before-write', at(-500 * DAY));

        expect(await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS)).toBe(4);
        const tiers: Record<string, Tier> = {};
        for (const id of [
          'recent',
          'month',
          'old',
          'old-but-read',
          'read-a-while-ago',
          'read-before-write',
        ]) {
          tiers[id] = (await store.get(id))!.tier;
        }
        expect(tiers).toEqual({
          recent: 'hot',
          month: 'warm',
          old: 'cold',
          'old-but-read': 'hot',
          'read-a-while-ago': 'warm',
          'read-before-write': 'warm',
        });
        expect(await store.countByTier()).toEqual({ hot: 2, warm: 3, cold: 1 });
        expect(await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS)).toBe(0);
      });

      it('moves twins back up when they are read again', async () => {
        await store.recordWrite('lead-1', v[0], at(-400 * DAY));
        await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS);
        await store.recordAccess('lead-1', at(0));
        expect((await store.get('lead-1'))!.tier).toBe('cold');
        expect(await store.sweep(at(1000), DEFAULT_TIER_THRESHOLDS)).toBe(1);
        expect((await store.get('lead-1'))!.tier).toBe('hot');
      });

      it('follows a twin through the years: hot, warm, cold', async () => {
        await store.recordWrite('lead-1', v[0], at(0));
        const seen: Tier[] = [];
        for (const day of [0, 29, 30, 100, 364, 365, 3650]) {
          await store.sweep(at(day * DAY), DEFAULT_TIER_THRESHOLDS);
          seen.push((await store.get('lead-1'))!.tier);
        }
        expect(seen).toEqual(['hot', 'hot', 'warm', 'warm', 'warm', 'cold', 'cold']);
      });

      it('puts a twin at exactly a threshold in the older tier (>=), one millisecond less in the newer', async () => {
        const cases: [string, number, Tier][] = [
          ['warm-edge', -30 * DAY, 'warm'],
          ['warm-edge-minus', -30 * DAY + 1, 'hot'],
          ['cold-edge', -365 * DAY, 'cold'],
          ['cold-edge-minus', -365 * DAY + 1, 'warm'],
        ];
        for (const [id, offset] of cases) await store.recordWrite(id, v[0], at(offset));
        await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS);
        for (const [id, , tier] of cases) expect([id, (await store.get(id))!.tier]).toEqual([id, tier]);
      });

      it('uses the thresholds given, and re-tiers everything when they change', async () => {
        await store.recordWrite('a', v[0], at(-12 * 3_600_000));
        await store.recordWrite('b', v[0], at(-36 * 3_600_000));
        await store.recordWrite('c', v[0], at(-72 * 3_600_000));
        expect(await store.sweep(at(0), { warmAfterDays: 1, coldAfterDays: 2 })).toBe(2);
        expect(await store.countByTier()).toEqual({ hot: 1, warm: 1, cold: 1 });
        expect(await store.sweep(at(0), { warmAfterDays: 0.25, coldAfterDays: 0.5 })).toBe(2);
        expect(await store.countByTier()).toEqual({ hot: 0, warm: 0, cold: 3 });
        expect(await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS)).toBe(3);
        expect(await store.countByTier()).toEqual({ hot: 3, warm: 0, cold: 0 });
      });

      it('countByTier is all zeros when empty', async () => {
        expect(await store.countByTier()).toEqual({ hot: 0, warm: 0, cold: 0 });
        expect(await store.sweep(at(0), DEFAULT_TIER_THRESHOLDS)).toBe(0);
      });

      it('agrees with deriveTier for any activity history, thresholds and sweep time', async () => {
        // A model of every lead; each run adds leads, reads some, sweeps, and compares all of them.
        const model = new Map<string, { last: number; tier: Tier }>();
        let nextLead = 0;
        const versions = new VersionGenerator(() => new Date(T));
        const offset = fc.oneof(
          fc.integer({ min: -800 * DAY, max: DAY }),
          fc
            .constantFrom(0, 1, -1)
            .chain((d) => fc.constantFrom(-30 * DAY + d, -365 * DAY + d, -7 * DAY + d, -0.5 * DAY + d)),
        );
        const thresholds = fc.oneof(
          fc.constant(DEFAULT_TIER_THRESHOLDS),
          fc.record({
            warmAfterDays: fc.integer({ min: 0, max: 60 }),
            coldAfterDays: fc.integer({ min: 0, max: 400 }),
          }),
          fc.record({
            warmAfterDays: fc.constantFrom(0.1, 0.5, 7),
            coldAfterDays: fc.constantFrom(0.3, 1.5, 30),
          }),
        );
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.record({ write: offset, access: fc.option(offset, { nil: undefined }) }), {
              maxLength: 6,
            }),
            fc.array(fc.record({ pick: fc.nat(), access: offset }), { maxLength: 3 }),
            fc.integer({ min: -DAY, max: 400 * DAY }),
            thresholds,
            async (newLeads, reads, sweepOffset, t: TierThresholds) => {
              for (const lead of newLeads) {
                const id = `p-${nextLead++}`;
                await store.recordWrite(id, versions.next(), at(lead.write));
                let last = lead.write;
                if (lead.access !== undefined) {
                  await store.recordAccess(id, at(lead.access));
                  last = Math.max(last, lead.access);
                }
                model.set(id, { last, tier: 'hot' });
              }
              const ids = [...model.keys()];
              for (const read of ids.length ? reads : []) {
                const id = ids[read.pick % ids.length];
                await store.recordAccess(id, at(read.access));
                model.get(id)!.last = Math.max(model.get(id)!.last, read.access);
              }
              const now = at(sweepOffset);
              let expectedChanges = 0;
              for (const entry of model.values()) {
                const tier = deriveTier(at(entry.last), now, t);
                if (tier !== entry.tier) expectedChanges++;
                entry.tier = tier;
              }
              expect(await store.sweep(now, t)).toBe(expectedChanges);
              for (const [id, entry] of model)
                expect([id, (await store.get(id))!.tier]).toEqual([id, entry.tier]);
            },
          ),
          { numRuns: 40 },
        );
      });
    });
  });
}
