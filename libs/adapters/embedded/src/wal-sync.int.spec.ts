import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { openSqlite, SqliteDatabase } from './sqlite';
import { WalSync } from './wal-sync';

describe('WalSync', () => {
  let tmp: TempDir;
  let db: SqliteDatabase;
  let wal: WalSync;

  beforeEach(async () => {
    tmp = await makeTempDir('wal-sync');
    const file = join(tmp.dir, 'x.db');
    db = openSqlite(file, { synchronous: 'full' });
    db.exec('CREATE TABLE t (v INTEGER)');
    wal = new WalSync(db, file);
  });
  afterEach(async () => {
    await wal.idle();
    db.close();
    await tmp.cleanup();
  });

  it('commits without an fsync and leaves the connection at synchronous FULL', () => {
    wal.commitWithoutFsync(() => db.prepare('INSERT INTO t VALUES (1)').run());
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(1);
    expect(wal.fsyncs).toBe(0);
  });

  it('rolls back and restores FULL when the transaction throws', () => {
    expect(() =>
      wal.commitWithoutFsync(() => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(0);
  });

  it('callers arriving while an fsync runs share the next one', async () => {
    wal.commitWithoutFsync(() => db.prepare('INSERT INTO t VALUES (1)').run());
    const first = wal.sync();
    const later = Array.from({ length: 10 }, () => wal.sync());
    expect(new Set(later).size).toBe(1);
    await Promise.all([first, ...later]);
    expect(wal.fsyncs).toBe(2);
    await wal.sync();
    expect(wal.fsyncs).toBe(3);
  });
});
