import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { isOwnerGone, ownerTag } from '../process-liveness';
import { openFsContentStore } from './fs-content-store.adapter';

const MD = 'text/markdown; charset=utf-8';

/** The pid of a process that existed and is gone (spawnSync waits for it and reaps it). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('FsContentStore temp files of writers that died mid-write', () => {
  let tmp: TempDir;
  let tmpDir: string;

  beforeEach(async () => {
    tmp = await makeTempDir('fs-content-store-temp');
    tmpDir = join(tmp.dir, 'tmp');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('names each temp file after its writer process', async () => {
    const store = openFsContentStore({ dir: tmp.dir });
    // A put that is still writing when we look would leave its temp file; catch one by listing mid-put.
    const seen = new Set<string>();
    const watcher = setInterval(() => readdirSync(tmpDir).forEach((n) => seen.add(n)), 0);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.put(`t/${i}.md`, Buffer.alloc(4 * 1024 * 1024, i), { contentType: MD }),
      ),
    );
    clearInterval(watcher);
    await store.close();
    expect(seen.size).toBeGreaterThan(0);
    for (const name of seen) expect(name.startsWith(`${ownerTag()}-`), name).toBe(true);
    expect(readdirSync(tmpDir)).toEqual([]);
  });

  it('removes them when a store opens; those of live writers and unknown ones stay', async () => {
    const first = openFsContentStore({ dir: tmp.dir });
    await first.put('a/whole.md', Buffer.from('whole'), { contentType: MD });
    await first.close();

    const gone = deadPid();
    const dead = [`${ownerTag(gone)}-0a1b2c.tmp`, `${ownerTag(deadPid())}-3d4e5f.tmp`];
    const alive = `${ownerTag(process.ppid)}-607182.tmp`; // the process that started this test
    const otherHost = `${ownerTag(gone, '00000000')}-93a4b5.tmp`; // its pid means nothing here
    const unknown = 'legacy-writer.tmp';
    for (const name of [...dead, alive, otherHost, unknown]) writeFileSync(join(tmpDir, name), 'partial');
    expect(dead.map(isOwnerGone)).toEqual([true, true]);
    expect([alive, otherHost, unknown].map(isOwnerGone)).toEqual([false, false, false]);

    const store = openFsContentStore({ dir: tmp.dir });
    try {
      expect(readdirSync(tmpDir).sort()).toEqual([alive, otherHost, unknown].sort());
      const listed: string[] = [];
      for await (const p of store.list('')) listed.push(p.path);
      expect(listed).toEqual(['a/whole.md']);
      expect((await store.get('a/whole.md'))!.body.toString()).toBe('whole');

      // collectGarbage takes a dead writer's file whatever its age, a live or unknown writer's only when old.
      writeFileSync(join(tmpDir, dead[0]), 'partial');
      expect(await store.collectGarbage()).toEqual({ objects: 0, tempFiles: 1 });
      expect(readdirSync(tmpDir).sort()).toEqual([alive, otherHost, unknown].sort());
    } finally {
      await store.close();
    }
  });
});
