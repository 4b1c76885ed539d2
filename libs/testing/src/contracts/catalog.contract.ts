import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwinCatalog } from '@twinstore/application';
import { contentPath, parseMetadata, TwinRecord, Version, VersionGenerator } from '@twinstore/domain';

export interface CatalogContractSubject {
  subject: TwinCatalog;
  cleanup(): Promise<void>;
}

/** Versions minted in order (one per simulated second), so `v[i] < v[j]` for `i < j`. */
function mintVersions(count: number): Version[] {
  let ms = Date.UTC(2026, 10, 28, 9, 0, 0);
  const generator = new VersionGenerator(() => new Date((ms += 1000)));
  return Array.from({ length: count }, () => generator.next());
}

/** `metadata` as posted: unknown top-level fields become `extra`. */
function record(leadId: string, version: Version, metadata: Record<string, unknown> = {}): TwinRecord {
  return {
    leadId,
    version,
    blobPath: contentPath(leadId, version),
    contentHash: version.toLowerCase().padEnd(64, '0'),
    size: 1000 + version.charCodeAt(25),
    savedAt: new Date(Date.UTC(2026, 10, 28)).toISOString(),
    metadata: parseMetadata(metadata),
  };
}

/** Deterministic shuffles, so a failure names the order that broke. */
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

/** The behaviour every TwinCatalog must have (SQLite, Cosmos, ...): version guards, tombstones, listing. */
export function describeCatalogContract(name: string, factory: () => Promise<CatalogContractSubject>): void {
  describe(`TwinCatalog contract: ${name}`, () => {
    let catalog: TwinCatalog;
    let cleanup: () => Promise<void>;
    const v = mintVersions(12);

    beforeEach(async () => {
      const made = await factory();
      catalog = made.subject;
      cleanup = made.cleanup;
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('upsert and get', () => {
      it('round-trips a record with full metadata', async () => {
        const r = record('lead-1', v[0], {
          age: 41,
          income: 72500.5,
          classification: 'hot',
          location: 'Berlin',
          tags: ['Golf', 'sailing'],
          favouriteColour: 'teal',
          extra: { score: 7, nested: { ok: true, list: [1, 'two', null] } },
        });
        expect(await catalog.upsert(r)).toBe('applied');
        expect(await catalog.get('lead-1')).toEqual(r);
      });

      it('round-trips a record with only the defaulted metadata', async () => {
        const r = record('lead-2', v[0]);
        expect(r.metadata).toEqual({ classification: 'warm', tags: [], extra: {} });
        await catalog.upsert(r);
        expect(await catalog.get('lead-2')).toEqual(r);
      });

      it('get of an unknown lead is null', async () => {
        expect(await catalog.get('nobody')).toBeNull();
      });

      it('a newer version replaces the record, fields that disappeared included', async () => {
        await catalog.upsert(record('lead-1', v[0], { age: 30, location: 'Paris', tags: ['a'] }));
        const newer = record('lead-1', v[1], { classification: 'cold' });
        expect(await catalog.upsert(newer)).toBe('applied');
        expect(await catalog.get('lead-1')).toEqual(newer);
      });

      it('the same version again or an older one is stale and changes nothing', async () => {
        const current = record('lead-1', v[5], { age: 50 });
        await catalog.upsert(current);
        expect(await catalog.upsert(record('lead-1', v[5], { age: 51 }))).toBe('stale');
        expect(await catalog.upsert(record('lead-1', v[4], { age: 49 }))).toBe('stale');
        expect(await catalog.get('lead-1')).toEqual(current);
      });

      it.each([1, 2, 3, 4, 5])(
        'any delivery order, with duplicates, converges on the newest version (order #%i)',
        async (seed) => {
          const deliveries = shuffled([...v.slice(0, 6), v[2], v[5], v[0]], seed);
          const results: string[] = [];
          for (const version of deliveries) results.push(await catalog.upsert(record('lead-1', version)));
          expect(await catalog.get('lead-1')).toEqual(record('lead-1', v[5]));
          // Applied exactly when the delivery was newer than everything before it.
          const expected = deliveries.map((ver, i) =>
            deliveries.slice(0, i).every((earlier) => earlier < ver) ? 'applied' : 'stale',
          );
          expect(results).toEqual(expected);
        },
      );

      it('concurrent upserts of many versions leave the newest', async () => {
        const results = await Promise.all(shuffled(v, 9).map((ver) => catalog.upsert(record('lead-1', ver))));
        expect(results).toContain('applied');
        expect((await catalog.get('lead-1'))!.version).toBe(v[11]);
      });

      it('leads are independent', async () => {
        await catalog.upsert(record('lead-a', v[3]));
        expect(await catalog.upsert(record('lead-b', v[1]))).toBe('applied');
        expect((await catalog.get('lead-a'))!.version).toBe(v[3]);
        expect((await catalog.get('lead-b'))!.version).toBe(v[1]);
      });
    });

    describe('remove and tombstones', () => {
      it('removes the lead and remembers the deletion version', async () => {
        await catalog.upsert(record('lead-1', v[1]));
        expect(await catalog.remove('lead-1', v[2])).toBe('applied');
        expect(await catalog.get('lead-1')).toBeNull();
        expect(await catalog.tombstone('lead-1')).toBe(v[2]);
        expect(await catalog.count()).toBe(0);
      });

      it('a tombstone blocks every version up to and including it', async () => {
        await catalog.upsert(record('lead-1', v[1]));
        await catalog.remove('lead-1', v[3]);
        expect(await catalog.upsert(record('lead-1', v[1]))).toBe('stale');
        expect(await catalog.upsert(record('lead-1', v[2]))).toBe('stale');
        expect(await catalog.upsert(record('lead-1', v[3]))).toBe('stale');
        expect(await catalog.get('lead-1')).toBeNull();
      });

      it('a version newer than the tombstone brings the lead back (written after the deletion)', async () => {
        await catalog.remove('lead-1', v[3]);
        expect(await catalog.upsert(record('lead-1', v[4]))).toBe('applied');
        expect((await catalog.get('lead-1'))!.version).toBe(v[4]);
        expect(await catalog.tombstone('lead-1')).toBe(v[3]);
      });

      it('a duplicate or older removal is stale and keeps the newest tombstone', async () => {
        await catalog.remove('lead-1', v[5]);
        expect(await catalog.remove('lead-1', v[5])).toBe('stale');
        expect(await catalog.remove('lead-1', v[2])).toBe('stale');
        expect(await catalog.tombstone('lead-1')).toBe(v[5]);
        expect(await catalog.remove('lead-1', v[7])).toBe('applied');
        expect(await catalog.tombstone('lead-1')).toBe(v[7]);
      });

      it('removing an unknown lead is applied and blocks a late older write', async () => {
        expect(await catalog.remove('ghost', v[4])).toBe('applied');
        expect(await catalog.upsert(record('ghost', v[3]))).toBe('stale');
        expect(await catalog.get('ghost')).toBeNull();
      });

      it('removing with a version older than the current record keeps the newer record', async () => {
        await catalog.upsert(record('lead-1', v[6]));
        expect(await catalog.remove('lead-1', v[4])).toBe('applied');
        expect((await catalog.get('lead-1'))!.version).toBe(v[6]);
        expect(await catalog.tombstone('lead-1')).toBe(v[4]);
      });

      it('tombstone of a never-deleted lead is null', async () => {
        await catalog.upsert(record('lead-1', v[0]));
        expect(await catalog.tombstone('lead-1')).toBeNull();
        expect(await catalog.tombstone('nobody')).toBeNull();
      });

      it.each([1, 2, 3, 4])(
        'saves and a deletion in any order converge: nothing at or below the deletion survives (order #%i)',
        async (seed) => {
          const events = shuffled(
            [
              { kind: 'save' as const, version: v[1] },
              { kind: 'save' as const, version: v[2] },
              { kind: 'delete' as const, version: v[3] },
              { kind: 'save' as const, version: v[2] },
              { kind: 'delete' as const, version: v[3] },
            ],
            seed,
          );
          for (const e of events) {
            if (e.kind === 'save') await catalog.upsert(record('lead-1', e.version));
            else await catalog.remove('lead-1', e.version);
          }
          expect(await catalog.get('lead-1')).toBeNull();
          expect(await catalog.tombstone('lead-1')).toBe(v[3]);
          // A save after the deletion always wins, whatever came before.
          expect(await catalog.upsert(record('lead-1', v[4]))).toBe('applied');
        },
      );

      it('concurrent removals and stale saves never resurrect the lead', async () => {
        await catalog.upsert(record('lead-1', v[0]));
        await Promise.all([
          ...v.slice(0, 6).map((ver) => catalog.upsert(record('lead-1', ver))),
          catalog.remove('lead-1', v[6]),
          catalog.remove('lead-1', v[6]),
        ]);
        expect(await catalog.get('lead-1')).toBeNull();
        expect(await catalog.tombstone('lead-1')).toBe(v[6]);
      });
    });

    describe('upsertMany and tombstones (batches)', () => {
      it('applies a batch of several leads and answers one outcome per record, in order', async () => {
        await catalog.upsert(record('lead-2', v[1]));
        await catalog.remove('lead-3', v[2]);
        const batch = [record('lead-1', v[3]), record('lead-2', v[4]), record('lead-3', v[1])];
        expect(await catalog.upsertMany(batch)).toEqual([
          { result: 'applied', hadRecord: false, tombstone: null },
          { result: 'applied', hadRecord: true, tombstone: null },
          { result: 'stale', hadRecord: false, tombstone: v[2] },
        ]);
        expect(await catalog.get('lead-1')).toEqual(batch[0]);
        expect(await catalog.get('lead-2')).toEqual(batch[1]);
        expect(await catalog.get('lead-3')).toBeNull();
      });

      it.each([1, 2, 3])(
        'converges on the newest record of a lead whatever the order in the batch (seed %i)',
        async (seed) => {
          await catalog.upsert(record('lead-1', v[2]));
          const batch = shuffled(
            [0, 3, 5, 5, 4, 1].map((i) => record('lead-1', v[i])),
            seed,
          );
          const outcomes = await catalog.upsertMany(batch);
          expect(await catalog.get('lead-1')).toEqual(record('lead-1', v[5]));
          expect(outcomes.every((o) => o.hadRecord && o.tombstone === null)).toBe(true);
          // Versions at or below the stored one are stale; of the two copies of the newest, one is applied.
          outcomes.forEach((o, i) => {
            if (batch[i].version <= v[2]) expect(o.result).toBe('stale');
          });
          expect(outcomes.filter((o, i) => batch[i].version === v[5] && o.result === 'applied')).toHaveLength(
            1,
          );
        },
      );

      it('honours tombstones: records at or below are stale, newer ones come back with the tombstone', async () => {
        await catalog.upsert(record('lead-1', v[0]));
        await catalog.remove('lead-1', v[3]);
        const outcomes = await catalog.upsertMany([record('lead-1', v[2]), record('lead-1', v[3])]);
        expect(outcomes.map((o) => [o.result, o.tombstone])).toEqual([
          ['stale', v[3]],
          ['stale', v[3]],
        ]);
        expect(await catalog.get('lead-1')).toBeNull();
        const after = await catalog.upsertMany([record('lead-1', v[4])]);
        expect(after).toEqual([{ result: 'applied', hadRecord: false, tombstone: v[3] }]);
        expect(await catalog.get('lead-1')).toEqual(record('lead-1', v[4]));
      });

      it('an empty batch changes nothing', async () => {
        expect(await catalog.upsertMany([])).toEqual([]);
        expect(await catalog.count()).toBe(0);
      });

      it('tombstones answers the leads that have one, in one call', async () => {
        await catalog.upsert(record('lead-1', v[0]));
        await catalog.remove('lead-1', v[1]);
        await catalog.remove('lead-2', v[2]);
        await catalog.upsert(record('lead-2', v[3]));
        await catalog.upsert(record('lead-3', v[0]));
        const found = await catalog.tombstones(['lead-1', 'lead-2', 'lead-3', 'never-seen']);
        expect(Object.fromEntries(found)).toEqual({ 'lead-1': v[1], 'lead-2': v[2] });
        expect((await catalog.tombstones([])).size).toBe(0);
      });

      it('concurrent batches and removals never resurrect a deleted lead', async () => {
        const leads = ['lead-1', 'lead-2', 'lead-3'];
        await Promise.all([
          catalog.upsertMany(leads.flatMap((l) => v.slice(0, 4).map((ver) => record(l, ver)))),
          catalog.upsertMany(leads.flatMap((l) => v.slice(2, 6).map((ver) => record(l, ver)))),
          ...leads.map((l) => catalog.remove(l, v[6])),
        ]);
        for (const l of leads) {
          expect(await catalog.get(l)).toBeNull();
          expect(await catalog.tombstone(l)).toBe(v[6]);
        }
      });
    });

    describe('count and list', () => {
      const ids = ['b-2', 'a-1', 'C-3', '0-zero', 'a-10', 'a-2', 'lead_9'];

      beforeEach(async () => {
        for (const [i, id] of ids.entries()) await catalog.upsert(record(id, v[i]));
      });

      it('counts current records, not tombstones', async () => {
        expect(await catalog.count()).toBe(ids.length);
        await catalog.remove('a-1', v[11]);
        await catalog.remove('never-existed', v[11]);
        expect(await catalog.count()).toBe(ids.length - 1);
      });

      it('lists records in leadId order', async () => {
        const all = await catalog.list({ limit: 100 });
        expect(all.map((r) => r.leadId)).toEqual([...ids].sort());
        expect(all.find((r) => r.leadId === 'a-2')).toEqual(record('a-2', v[ids.indexOf('a-2')]));
      });

      it('pages with after (exclusive) and limit, each record once', async () => {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await catalog.list({ after, limit: 3 });
          expect(page.length).toBeLessThanOrEqual(3);
          if (page.length === 0) break;
          seen.push(...page.map((r) => r.leadId));
          after = page[page.length - 1].leadId;
        }
        expect(seen).toEqual([...ids].sort());
      });

      it('after need not be an existing leadId, and a removed lead is not listed', async () => {
        await catalog.remove('a-10', v[11]);
        expect((await catalog.list({ after: 'a-0', limit: 10 })).map((r) => r.leadId)).toEqual(
          [...ids].sort().filter((id) => id > 'a-0' && id !== 'a-10'),
        );
        expect(await catalog.list({ after: 'zzz', limit: 10 })).toEqual([]);
      });
    });
  });
}
