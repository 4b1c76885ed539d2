import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMetadata, TwinRecord, Version, VersionGenerator } from '@twinstore/domain';
import { describeCatalogContract, makeTempDir, TempDir } from '@twinstore/testing';
import { openSqliteCatalog, SqliteTwinCatalog } from './sqlite-twin-catalog.adapter';

describeCatalogContract('SqliteTwinCatalog', async () => {
  const tmp = await makeTempDir('sqlite-catalog');
  const subject = openSqliteCatalog({ file: join(tmp.dir, 'catalog.db') });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

const versions = new VersionGenerator(() => new Date(Date.UTC(2026, 0, 1)));

function record(leadId: string, version: Version, metadata: Record<string, unknown> = {}): TwinRecord {
  return {
    leadId,
    version,
    blobPath: `digital-twins/2026/01/01/${leadId}.md`,
    contentHash: 'ab'.repeat(32),
    size: 10_240,
    savedAt: '2026-01-01T00:00:00.000Z',
    metadata: parseMetadata(metadata),
  };
}

describe('SqliteTwinCatalog', () => {
  let tmp: TempDir;
  let file: string;
  let catalog: SqliteTwinCatalog;

  beforeEach(async () => {
    tmp = await makeTempDir('sqlite-catalog-adapter');
    file = join(tmp.dir, 'nested', 'catalog.db');
    catalog = openSqliteCatalog({ file });
  });
  afterEach(async () => {
    await catalog.close();
    await tmp.cleanup();
  });

  it('keeps records and tombstones across close and reopen', async () => {
    const [v1, v2] = [versions.next(), versions.next()];
    await catalog.upsert(record('lead-1', v1, { age: 30 }));
    await catalog.remove('lead-2', v2);
    await catalog.close();
    catalog = openSqliteCatalog({ file });
    expect(await catalog.get('lead-1')).toEqual(record('lead-1', v1, { age: 30 }));
    expect(await catalog.tombstone('lead-2')).toBe(v2);
  });

  it('stores the queryable metadata in their own columns', async () => {
    const v1 = versions.next();
    await catalog.upsert(
      record('lead-1', v1, {
        age: 41,
        income: 1234.5,
        classification: 'hot',
        location: 'Oslo',
        tags: ['A', 'b'],
      }),
    );
    await catalog.upsert(record('lead-2', v1));
    const raw = new Database(file, { readonly: true });
    try {
      const rows = raw
        .prepare(
          'SELECT lead_id, classification, age, income, location, tags FROM catalog_twins ORDER BY lead_id',
        )
        .all();
      expect(rows).toEqual([
        {
          lead_id: 'lead-1',
          classification: 'hot',
          age: 41,
          income: 1234.5,
          location: 'Oslo',
          tags: '["a","b"]',
        },
        { lead_id: 'lead-2', classification: 'warm', age: null, income: null, location: null, tags: '[]' },
      ]);
      const plan = raw
        .prepare(
          "EXPLAIN QUERY PLAN SELECT lead_id FROM catalog_twins WHERE classification = 'hot' ORDER BY saved_at",
        )
        .all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toContain('catalog_twins_classification');
    } finally {
      raw.close();
    }
  });

  it('two connections to one file (like two processes) keep the guards', async () => {
    const other = openSqliteCatalog({ file });
    try {
      const vs = Array.from({ length: 20 }, () => versions.next());
      const results = await Promise.all(
        vs.flatMap((ver, i) => [
          (i % 2 ? catalog : other).upsert(record('lead-1', ver)),
          (i % 2 ? other : catalog).upsert(record('lead-1', ver)),
        ]),
      );
      // Each version applies once; its duplicate through the other connection is stale.
      expect(results.filter((r) => r === 'applied')).toHaveLength(20);
      expect((await other.get('lead-1'))!.version).toBe(vs[19]);
      const deletion = versions.next();
      expect(await other.remove('lead-1', deletion)).toBe('applied');
      expect(await catalog.remove('lead-1', deletion)).toBe('stale');
      expect(await catalog.upsert(record('lead-1', vs[19]))).toBe('stale');
      expect(await catalog.get('lead-1')).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('refuses a limit that is not a non-negative integer', async () => {
    await expect(catalog.list({ limit: -1 })).rejects.toThrow(/limit/);
    await expect(catalog.list({ limit: 1.5 })).rejects.toThrow(/limit/);
    expect(await catalog.list({ limit: 0 })).toEqual([]);
  });
});
