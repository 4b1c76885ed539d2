import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TIER_THRESHOLDS, Version, VersionGenerator } from '@twinstore/domain';
import {
  describeActivityStoreContract,
  describeLeaseLockContract,
  describeTierLedgerContract,
  makeTempDir,
  TempDir,
} from '@twinstore/testing';
import { openSqliteLeaseLock } from './sqlite-lease-lock';
import { openSqliteActivityStore, SqliteActivityStore } from './sqlite-activity-store.adapter';
import { openSqliteCatalog } from '../catalog/sqlite-twin-catalog.adapter';

describeActivityStoreContract('SqliteActivityStore', async () => {
  const tmp = await makeTempDir('sqlite-activity');
  const subject = openSqliteActivityStore({ file: join(tmp.dir, 'activity.db') });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

describeTierLedgerContract('SqliteActivityStore', async () => {
  const tmp = await makeTempDir('sqlite-ledger');
  const subject = openSqliteActivityStore({ file: join(tmp.dir, 'activity.db') });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

describeLeaseLockContract('SqliteLeaseLock (two connections to one file)', async () => {
  const tmp = await makeTempDir('sqlite-lease');
  const a = openSqliteLeaseLock({ file: join(tmp.dir, 'activity.db') });
  const b = openSqliteLeaseLock({ file: join(tmp.dir, 'activity.db') });
  return {
    subject: { a, b },
    cleanup: async () => {
      await a.close();
      await b.close();
      await tmp.cleanup();
    },
  };
});

describeActivityStoreContract('SqliteActivityStore (sweep batches of 2)', async () => {
  const tmp = await makeTempDir('sqlite-activity-batched');
  const subject = openSqliteActivityStore({ file: join(tmp.dir, 'activity.db'), sweepBatchSize: 2 });
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 1);
const versions = new VersionGenerator(() => new Date(T));

describe('SqliteActivityStore', () => {
  let tmp: TempDir;
  let file: string;
  let store: SqliteActivityStore;

  beforeEach(async () => {
    tmp = await makeTempDir('sqlite-activity-adapter');
    file = join(tmp.dir, 'activity.db');
    store = openSqliteActivityStore({ file, sweepBatchSize: 3 });
  });
  afterEach(async () => {
    await store.close();
    await tmp.cleanup();
  });

  it('sweeps more twins than one batch holds, each once', async () => {
    const v = versions.next();
    for (let i = 0; i < 20; i++)
      await store.recordWrite(`lead-${i}`, v, new Date(T - (i % 2 ? 40 : 400) * DAY));
    expect(await store.sweep(new Date(T), DEFAULT_TIER_THRESHOLDS)).toBe(20);
    expect(await store.countByTier()).toEqual({ hot: 0, warm: 10, cold: 10 });
    expect(await store.sweep(new Date(T + 10 * 365 * DAY), DEFAULT_TIER_THRESHOLDS)).toBe(10);
    expect(await store.countByTier()).toEqual({ hot: 0, warm: 0, cold: 20 });
  });

  it('finds sweep candidates through the (tier, last activity) index, not a table scan', () => {
    const raw = new Database(file, { readonly: true });
    try {
      const plan = raw
        .prepare(
          `EXPLAIN QUERY PLAN SELECT rowid FROM activity_twins
           WHERE tier = 'hot' AND last_activity_at <= 123 LIMIT 10`,
        )
        .all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toMatch(
        /USING (COVERING )?INDEX activity_twins_tier_activity/,
      );
    } finally {
      raw.close();
    }
  });

  it('handles thresholds of Infinity (a tier switched off)', async () => {
    await store.recordWrite('lead-1', versions.next(), new Date(T - 10_000 * DAY));
    expect(await store.sweep(new Date(T), { warmAfterDays: 30, coldAfterDays: Infinity })).toBe(1);
    expect((await store.get('lead-1'))!.tier).toBe('warm');
    expect(await store.sweep(new Date(T), { warmAfterDays: Infinity, coldAfterDays: Infinity })).toBe(1);
    expect((await store.get('lead-1'))!.tier).toBe('hot');
  });

  it('refuses a sweep batch size below one', () => {
    expect(() => openSqliteActivityStore({ file, sweepBatchSize: 0 })).toThrow(/sweepBatchSize/);
  });

  it('refuses invalid times and thresholds', async () => {
    const v = versions.next();
    await expect(store.recordWrite('lead-1', v, new Date('nope'))).rejects.toThrow(/valid Date/);
    await expect(store.recordAccess('lead-1', new Date(NaN))).rejects.toThrow(/valid Date/);
    await expect(store.sweep(new Date(T), { warmAfterDays: NaN, coldAfterDays: 1 })).rejects.toThrow(
      /thresholds/,
    );
    expect(await store.get('lead-1')).toBeNull();
  });

  it('keeps rows and tombstones across reopen, and two connections share them', async () => {
    const [v1, v2] = [versions.next(), versions.next()];
    await store.recordWrite('lead-1', v1, new Date(T));
    await store.remove('lead-2', v2);
    await store.close();
    store = openSqliteActivityStore({ file });
    const other = openSqliteActivityStore({ file });
    try {
      expect((await other.get('lead-1'))!.version).toBe(v1);
      expect(await other.recordWrite('lead-2', v1, new Date(T))).toBe('stale');
      await other.recordAccess('lead-1', new Date(T + DAY));
      expect((await store.get('lead-1'))!.lastAccessAt).toBe(new Date(T + DAY).toISOString());
    } finally {
      await other.close();
    }
  });

  it('can share one SQLite file with the catalog', async () => {
    const catalog = openSqliteCatalog({ file });
    try {
      const v = versions.next() as Version;
      await catalog.remove('lead-1', v);
      expect(await store.recordWrite('lead-1', v, new Date(T))).toBe('applied');
      expect(await catalog.count()).toBe(0);
      expect((await store.get('lead-1'))!.version).toBe(v);
    } finally {
      await catalog.close();
    }
  });
});
