import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeIdempotencyStoreContract, makeTempDir, TempDir } from '@twinstore/testing';
import { ownerTag } from '../process-liveness';
import type { BeginRaceChildConfig } from './fixtures/begin-race.child';
import { openSqliteIdempotencyStore, SqliteIdempotencyStore } from './sqlite-idempotency-store.adapter';

const ok = { status: 202, headers: {}, body: { version: 'V1' } };
const ROOT = resolve(__dirname, '..', '..', '..', '..', '..');

describeIdempotencyStoreContract('SqliteIdempotencyStore', async (options) => {
  const tmp = await makeTempDir('sqlite-idempotency');
  const file = join(tmp.dir, 'idempotency.db');
  const opened: SqliteIdempotencyStore[] = [];
  const open = () => {
    const store = openSqliteIdempotencyStore({ file, ...options });
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

describe('SqliteIdempotencyStore', () => {
  let tmp: TempDir;
  let file: string;

  beforeEach(async () => {
    tmp = await makeTempDir('sqlite-idempotency-adapter');
    file = join(tmp.dir, 'idempotency.db');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('keeps answers in its own WAL-mode file, across a reopen', async () => {
    const first = openSqliteIdempotencyStore({ file });
    const begun = await first.begin('k', 'PUT /v1/twins/a', 'h');
    if (begun.state !== 'new') throw new Error(begun.state);
    await first.complete('k', 'PUT /v1/twins/a', begun.claim, { status: 202, headers: {}, body: { v: 1 } });
    await first.close();
    const again = openSqliteIdempotencyStore({ file });
    expect(await again.begin('k', 'PUT /v1/twins/a', 'h')).toEqual({
      state: 'done',
      response: { status: 202, headers: {}, body: { v: 1 } },
    });
    await again.close();
  });

  it('answers complete() only after the WAL is fsynced; a claim costs no fsync', async () => {
    const store = openSqliteIdempotencyStore({ file });
    const wal = (store as unknown as { wal: { fsyncs: number } }).wal;
    const begun = await store.begin('k', 'PUT /v1/twins/a', 'h');
    if (begun.state !== 'new') throw new Error(begun.state);
    expect(wal.fsyncs).toBe(0);
    await store.complete('k', 'PUT /v1/twins/a', begun.claim, ok);
    expect(wal.fsyncs).toBe(1);
    await store.close();
  });

  it('purges expired records on its own as keys are used', async () => {
    let now = Date.UTC(2030, 0, 1);
    const store = openSqliteIdempotencyStore({ file, now: () => now, ttlMs: 1000 });
    for (let i = 0; i < 5; i++) await store.begin(`old-${i}`, 's', 'h');
    now += 120_000; // past the TTL and the purge interval
    await store.begin('fresh', 's', 'h');
    expect(await store.purgeExpired()).toBe(0);
    await store.close();
  });

  it('takes over at once a claim whose process is gone; a live process keeps its claim for the lease', async () => {
    const store = openSqliteIdempotencyStore({ file });
    const sibling = openSqliteIdempotencyStore({ file });
    try {
      const first = await store.begin('k', 'PUT /v1/twins/a', 'h');
      expect(first.state).toBe('new');
      // Held by this (live) process: in flight, as before.
      expect(await sibling.begin('k', 'PUT /v1/twins/a', 'h')).toEqual({ state: 'in-flight' });

      // The holder was SIGKILLed mid-request: its claim names a process that no longer exists.
      const gone = spawnSync(process.execPath, ['-e', '']).pid!;
      const db = new Database(file);
      db.prepare('UPDATE idempotency_keys SET claim = ? WHERE key = ?').run(`${ownerTag(gone)}-x`, 'k');
      db.close();
      const retried = await sibling.begin('k', 'PUT /v1/twins/a', 'h');
      expect(retried).toEqual({ state: 'new', claim: expect.stringMatching(/^h[0-9a-f]{8}-p\d+-/) });
      // The dead holder's claim is void; the retry's answer is the one remembered.
      expect(await store.complete('k', 'PUT /v1/twins/a', (first as { claim: string }).claim, ok)).toBe(
        false,
      );
      expect(await sibling.complete('k', 'PUT /v1/twins/a', (retried as { claim: string }).claim, ok)).toBe(
        true,
      );
      expect(await store.begin('k', 'PUT /v1/twins/a', 'h')).toEqual({ state: 'done', response: ok });
    } finally {
      await store.close();
      await sibling.close();
    }
  });

  it('refuses a non-positive TTL or lease', () => {
    expect(() => openSqliteIdempotencyStore({ file, ttlMs: 0 })).toThrow(/positive/);
    expect(() => openSqliteIdempotencyStore({ file, leaseMs: -1 })).toThrow(/positive/);
  });
});

describe('SqliteIdempotencyStore across processes', () => {
  let buildDir: TempDir;
  let childScript: string;
  let tmp: TempDir;

  beforeAll(async () => {
    buildDir = await makeTempDir('idempotency-child');
    childScript = join(buildDir.dir, 'begin-race.child.js');
    buildSync({
      absWorkingDir: ROOT,
      entryPoints: [join(__dirname, 'fixtures', 'begin-race.child.ts')],
      outfile: childScript,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      tsconfig: 'tsconfig.base.json',
      logLevel: 'warning',
    });
  });
  afterAll(async () => {
    await buildDir?.cleanup();
  });
  beforeEach(async () => {
    tmp = await makeTempDir('idempotency-mp');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  function runChild(config: BeginRaceChildConfig): Promise<string[]> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [childScript], {
        env: {
          ...process.env,
          NODE_PATH: join(ROOT, 'node_modules'),
          TWINSTORE_IDEMPOTENCY_CHILD: JSON.stringify(config),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.once('error', fail);
      child.once('exit', (code) =>
        code === 0 ? done(out.split('\n').filter(Boolean)) : fail(new Error(`child exited with ${code}`)),
      );
    });
  }

  it('four processes racing on the same keys: each key is claimed by exactly one of them', async () => {
    const file = join(tmp.dir, 'idempotency.db');
    // Create the schema first, so the children race on keys rather than on the CREATE TABLE.
    await openSqliteIdempotencyStore({ file }).close();
    const keys = Array.from({ length: 40 }, (_, i) => `race-${i}`);
    const startAt = Date.now() + 1500;
    const outputs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        runChild({
          file,
          keys: i % 2 ? [...keys].reverse() : keys,
          scope: 'PUT /v1/twins/x',
          startAt,
          exitAt: startAt + 5000,
        }),
      ),
    );
    const lines = outputs.flat();
    expect(lines).toHaveLength(keys.length * 4);
    for (const key of keys) {
      const states = lines.filter((l) => l.startsWith(`${key} `)).map((l) => l.split(' ')[1]);
      expect(states.sort()).toEqual(['in-flight', 'in-flight', 'in-flight', 'new']);
    }
    // every process won some keys or the race was not a race: at least two distinct winners
    const winners = outputs.map((o) => o.filter((l) => l.endsWith(' new')).length);
    expect(winners.filter((n) => n > 0).length).toBeGreaterThanOrEqual(1);
  });
});
