import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentPath, TwinRecord, VersionGenerator } from '@twinstore/domain';
import { describeRecentWritesContract, makeTempDir, TempDir } from '@twinstore/testing';
import { openSqliteRecentWrites, SqliteRecentWrites } from './sqlite-recent-writes.adapter';

describeRecentWritesContract('SqliteRecentWrites', async (options) => {
  const tmp = await makeTempDir('sqlite-recent-writes');
  const file = join(tmp.dir, 'recent-writes.db');
  const opened: SqliteRecentWrites[] = [];
  const open = () => {
    const store = openSqliteRecentWrites({ file, ...options });
    opened.push(store);
    return store;
  };
  return {
    subject: open(),
    sibling: async () => open(),
    cleanup: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await tmp.cleanup();
    },
  };
});

describe('SqliteRecentWrites', () => {
  let tmp: TempDir;
  let file: string;
  let now: number;
  const versions = new VersionGenerator(() => new Date(now));
  const record = (leadId: string): TwinRecord => {
    const version = versions.next();
    return {
      leadId,
      version,
      blobPath: contentPath(leadId, version),
      contentHash: '00'.repeat(32),
      size: 1,
      savedAt: new Date(now).toISOString(),
      metadata: { classification: 'warm', tags: [], extra: {} },
    };
  };

  beforeEach(async () => {
    tmp = await makeTempDir('sqlite-recent-writes-adapter');
    file = join(tmp.dir, 'recent-writes.db');
    now = Date.UTC(2030, 0, 1);
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('makes a whole batch durable with one WAL fsync, and keeps it across a reopen', async () => {
    const store = openSqliteRecentWrites({ file, now: () => now });
    const wal = (store as unknown as { wal: { fsyncs: number } }).wal;
    const batch = Array.from({ length: 100 }, (_, i) => record(`lead-${i}`));
    await store.note(batch);
    expect(wal.fsyncs).toBe(1);
    await store.close();
    const again = openSqliteRecentWrites({ file, now: () => now });
    expect(await again.latest('lead-42')).toEqual(batch[42]);
    await again.close();
  });

  it('stays bounded by what one horizon holds: notes prune expired rows as they come', async () => {
    const horizonMs = 10_000;
    const store = openSqliteRecentWrites({ file, horizonMs, now: () => now });
    for (let round = 0; round < 10; round++) {
      await store.note(Array.from({ length: 50 }, (_, i) => record(`lead-${round}-${i}`)));
      now += horizonMs / 2;
    }
    // Each round's leads are new twins: without pruning the file would hold all 500.
    expect(store.size()).toBeLessThanOrEqual(150);
    now += horizonMs;
    expect(await store.pruneExpired()).toBeGreaterThan(0);
    expect(store.size()).toBe(0);
    await store.close();
  });

  it('refuses a non-positive horizon', () => {
    expect(() => openSqliteRecentWrites({ file, horizonMs: 0 })).toThrow(/positive/);
  });
});
