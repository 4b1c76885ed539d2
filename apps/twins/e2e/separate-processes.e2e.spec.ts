import {
  openSqliteActivityStore,
  openSqliteCatalog,
  openSqliteSearchIndex,
  openFsContentStore,
} from '@twinstore/adapters-embedded';
import { RedisTwinCache } from '@twinstore/adapters-redis';
import { metadataPath } from '@twinstore/domain';
import { generatePersona } from '@twinstore/personas';
import { embeddedLayout } from '@twinstore/platform';
import {
  buildAppsForTest,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  startRedisServer,
  waitFor,
} from '@twinstore/testing';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCommand } from '../src/commands/load.command';

const COUNT = 1000;
const SEED = 7;
const WORKERS = ['writer', 'indexer', 'cache-warmer', 'tiering'] as const;
const devNull = new Writable({ write: (_c, _e, cb) => cb() });

describe('the five services as separate processes sharing one data directory', () => {
  let dataDir: { dir: string; cleanup(): Promise<void> };
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let services: ServiceProcess[] = [];
  let baseUrl: string;
  const personas = Array.from({ length: COUNT }, (_, i) => generatePersona(SEED + i));

  const json = async (path: string) => {
    const res = await fetch(`${baseUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const buildDir = buildAppsForTest('e2e-separate');
    dataDir = await makeTempDir('twins-e2e-');
    redis = await startRedisServer();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const env = {
      TWINS_DATA_DIR: dataDir.dir,
      TWINS_PORT: String(port),
      TWINS_REDIS_URL: redis.url,
      TWINS_LOG_LEVEL: 'info',
      TWINS_ACCESS_FLUSH_MS: '200',
    };
    services = [spawnService(buildDir, 'ingest-api', [], env)];
    const managementUrls: string[] = [];
    for (const worker of WORKERS) {
      const management = await freePort();
      managementUrls.push(`http://127.0.0.1:${management}`);
      services.push(
        spawnService(buildDir, worker, [], { ...env, TWINS_MANAGEMENT_PORT: String(management) }),
      );
    }
    for (const url of [baseUrl, ...managementUrls]) {
      await waitFor(`${url}/readyz`, async () => (await fetch(`${url}/readyz`)).status === 200, 30_000);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await redis?.stop();
    await dataDir?.cleanup();
  });

  it(`loads ${COUNT} twins that all become readable byte for byte`, async () => {
    const summary = await loadCommand({
      baseUrl,
      count: COUNT,
      concurrency: 16,
      seed: SEED,
      progress: false,
      out: devNull,
    });
    expect(summary.accepted).toBe(COUNT);
    expect(summary.failed).toBe(0);
    expect([...summary.versions.keys()].sort()).toEqual(personas.map((p) => p.leadId).sort());

    await waitFor(
      'every twin indexed',
      async () => (await json('/v1/search?top=1')).body.total === COUNT,
      120_000,
    );
    for (const p of personas) {
      await waitFor(`catalog has ${p.leadId}`, async () => {
        const res = await fetch(`${baseUrl}/v1/twins/${p.leadId}`);
        if (res.status !== 200) return false;
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(bytes.equals(Buffer.from(p.markdown, 'utf8'))).toBe(true);
        expect(res.headers.get('etag')).toBe(`"${summary.versions.get(p.leadId)}"`);
        return true;
      });
    }
  }, 300_000);

  it('finds them by search with filters and facet counts that match the loaded data', async () => {
    const hot = personas.filter((p) => p.metadata.classification === 'hot');
    const { body } = await json('/v1/search?classification=hot&facets=classification,location&top=5');
    expect(body.total).toBe(hot.length);
    const facets = body.facets as Record<string, { value: string; count: number }[]>;
    expect(facets.classification).toEqual([{ value: 'hot', count: hot.length }]);
    const byLocation = new Map<string, number>();
    for (const p of hot)
      byLocation.set(p.metadata.location!, (byLocation.get(p.metadata.location!) ?? 0) + 1);
    for (const f of facets.location) expect(f.count).toBe(byLocation.get(f.value));

    const inRange = personas.filter(
      (p) => p.metadata.age! >= 30 && p.metadata.age! <= 45 && p.metadata.income! >= 100_000,
    );
    const ranged = await json('/v1/search?minAge=30&maxAge=45&minIncome=100000&top=1');
    expect(ranged.body.total).toBe(inRange.length);

    for (const p of personas.slice(0, 20)) {
      const title = p.markdown.split(/\r?\n/)[0].replace(/^#+\s*/, '');
      const q = new URLSearchParams({
        q: title,
        classification: p.metadata.classification,
        minAge: String(p.metadata.age),
        maxAge: String(p.metadata.age),
        top: '100',
      });
      const res = await json(`/v1/search?${q}`);
      const hits = res.body.hits as { leadId: string; highlights: string[] }[];
      expect(hits.map((h) => h.leadId)).toContain(p.leadId);
    }
  }, 120_000);

  it('DELETE erases the twin from every store', async () => {
    const victim = personas[3];
    const del = await fetch(`${baseUrl}/v1/twins/${victim.leadId}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await fetch(`${baseUrl}/v1/twins/${victim.leadId}`)).status).toBe(404);
    await waitFor('index and catalog forget it', async () => {
      const total = (await json('/v1/search?top=1')).body.total;
      const meta = await fetch(`${baseUrl}/v1/twins/${victim.leadId}/metadata`);
      return total === COUNT - 1 && meta.status === 404;
    });

    const layout = embeddedLayout(dataDir.dir);
    const content = openFsContentStore({ dir: layout.blobs });
    const catalog = openSqliteCatalog({ file: layout.catalog });
    const search = openSqliteSearchIndex({ file: layout.search });
    const activity = openSqliteActivityStore({ file: layout.activity });
    const cache = new RedisTwinCache({ url: redis.url });
    try {
      const blobs: string[] = [];
      for await (const b of content.list('digital-twins/'))
        if (b.path.includes(victim.leadId)) blobs.push(b.path);
      expect(blobs).toEqual([]);
      expect(await content.head(metadataPath(victim.leadId))).toBeNull();
      expect(await catalog.get(victim.leadId)).toBeNull();
      expect(await search.version(victim.leadId)).toBeNull();
      await waitFor('tiering forgets it', async () => (await activity.get(victim.leadId)) === null);
      expect(await cache.get(victim.leadId)).toBeNull();
      // the others are untouched
      expect(await catalog.count()).toBe(COUNT - 1);
    } finally {
      await Promise.all([content.close(), catalog.close(), search.close(), activity.close(), cache.close()]);
    }
  }, 60_000);

  it('every service stops gracefully on SIGTERM, and no log line carries personal data', async () => {
    const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    expect(codes).toEqual(services.map(() => 0));
    const logs = services.map((s) => s.output()).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const p of personas.slice(0, 50)) {
      const firstLine = p.markdown.split(/\r?\n/).find((l) => l.trim().length > 20);
      if (firstLine) expect(logs).not.toContain(firstLine);
      expect(logs).not.toMatch(new RegExp(`"income":\\s*${p.metadata.income}\\b`));
    }
  }, 60_000);
});
