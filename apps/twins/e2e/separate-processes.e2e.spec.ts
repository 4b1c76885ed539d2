import { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { metadataPath } from '@twinstore/domain';
import { generatePersona } from '@twinstore/personas';
import { closeAdapters, createAdapters, loadConfig } from '@twinstore/platform';
import {
  authHeader,
  buildAppsForTest,
  createTestApiKey,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  startAzureTestBackends,
  startRedisServer,
  waitFor,
} from '@twinstore/testing';
import pino from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCommand } from '../src/commands/load.command';

const COUNT = 1000;
const SEED = 7;
const WORKERS = ['writer', 'indexer', 'cache-warmer', 'tiering'] as const;
const devNull = new Writable({ write: (_c, _e, cb) => cb() });

interface Backends {
  /** TWINS_* settings that point the services at these backends. */
  env: Record<string, string>;
  /** Checks only this profile can make: where and how the stores keep the twins. */
  checkLayout(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Embedded: one data directory shared by every process; nothing else to start. */
const embedded = async (): Promise<Backends> => ({
  env: {},
  checkLayout: async () => {},
  stop: async () => {},
});

/**
 * Azure: every port on its Azure adapter, against the emulators in containers when a Docker engine is reachable,
 * else Azurite, cosmosdb-server and the wire-true AI Search and Service Bus test servers in this process.
 */
const azure = async (): Promise<Backends> => {
  const started = await startAzureTestBackends();
  const { azurite, cosmos } = started;
  return {
    env: started.env,
    async checkLayout(count) {
      // the seed's blob layout, exactly
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'twins',
      );
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat()) names.push(blob.name);
      const content = names.filter((n) =>
        /^digital-twins\/\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9][A-Za-z0-9_-]*\.md$/.test(n),
      );
      const pointers = names.filter((n) =>
        /^digital-twins\/metadata\/[A-Za-z0-9][A-Za-z0-9_-]*\.json$/.test(n),
      );
      expect(content).toHaveLength(count);
      expect(pointers).toHaveLength(count);
      expect(names).toHaveLength(content.length + pointers.length);
      // the seed's minimal Cosmos document
      const client = new CosmosClient({
        endpoint: cosmos.endpoint,
        key: cosmos.key,
        connectionPolicy: { enableEndpointDiscovery: false },
      });
      const { resources } = await client
        .database('twinstore')
        .container('twins')
        .items.query<Record<string, unknown>>('SELECT TOP 50 * FROM c')
        .fetchAll();
      expect(resources.length).toBeGreaterThan(0);
      for (const doc of resources) {
        for (const field of [
          'id',
          'partition_key',
          'lead_classification',
          'age',
          'income',
          'location',
          'last_updated',
          'blob_path',
          'search_tags',
          'version',
        ]) {
          expect(doc).toHaveProperty(field);
        }
        expect(doc.blob_path).toMatch(/^digital-twins\/\d{4}\/\d{2}\/\d{2}\/.+\.md$/);
      }
    },
    stop: () => started.stop(),
  };
};

describe.each([
  { profile: 'embedded', backends: embedded },
  { profile: 'azure', backends: azure },
])('the five services as separate processes on the $profile profile', ({ backends: startBackends }) => {
  let dataDir: { dir: string; cleanup(): Promise<void> };
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let backends: Backends;
  let env: Record<string, string>;
  let services: ServiceProcess[] = [];
  let baseUrl: string;
  let apiKey: string;
  const personas = Array.from({ length: COUNT }, (_, i) => generatePersona(SEED + i));

  const json = async (path: string) => {
    const res = await fetch(`${baseUrl}${path}`, { headers: authHeader(apiKey) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const buildDir = buildAppsForTest('e2e-separate');
    dataDir = await makeTempDir('twins-e2e-');
    redis = await startRedisServer();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    backends = await startBackends();
    env = {
      ...backends.env,
      TWINS_DATA_DIR: dataDir.dir,
      TWINS_PORT: String(port),
      TWINS_REDIS_URL: redis.url,
      TWINS_LOG_LEVEL: 'info',
      TWINS_ACCESS_FLUSH_MS: '200',
      // Well inside the 30 s the SIGTERM test waits: a drain that overruns is cut at 10 s (and then exits 0),
      // a close that hangs trips the process's own deadline timer (exit 1).
      TWINS_SHUTDOWN_DEADLINE_MS: '10000',
    };
    // a key in the store the services read (the data directory, or Table Storage on azure), made before they
    // start: the embedded ingest API then mints no first-start key of its own
    apiKey = await createTestApiKey(env);
    services = [spawnService(buildDir, 'ingest-api', [], env)];
    const managementUrls: string[] = [];
    for (const worker of WORKERS) {
      const management = await freePort();
      managementUrls.push(`http://127.0.0.1:${management}`);
      services.push(
        spawnService(buildDir, worker, [], { ...env, TWINS_MANAGEMENT_PORT: String(management) }),
      );
    }
    try {
      for (const url of [baseUrl, ...managementUrls]) {
        await waitFor(`${url}/readyz`, async () => (await fetch(`${url}/readyz`)).status === 200, 60_000);
      }
    } catch (e) {
      // say why: the services' own last words
      const tails = services.map((s) => `--- ${s.name}\n${s.output().slice(-2000)}`).join('\n');
      throw new Error(`${(e as Error).message}\n${tails}`);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await redis?.stop();
    await backends?.stop();
    await dataDir?.cleanup();
  });

  it(`loads ${COUNT} twins that all become readable byte for byte`, async () => {
    const summary = await loadCommand({
      baseUrl,
      count: COUNT,
      concurrency: 16,
      seed: SEED,
      apiKey,
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
        const res = await fetch(`${baseUrl}/v1/twins/${p.leadId}`, { headers: authHeader(apiKey) });
        if (res.status !== 200) return false;
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(bytes.equals(Buffer.from(p.markdown, 'utf8'))).toBe(true);
        expect(res.headers.get('etag')).toBe(`"${summary.versions.get(p.leadId)}"`);
        return true;
      });
    }
    await backends.checkLayout(COUNT);
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
    const del = await fetch(`${baseUrl}/v1/twins/${victim.leadId}`, {
      method: 'DELETE',
      headers: authHeader(apiKey),
    });
    expect(del.status).toBe(202);
    expect(
      (await fetch(`${baseUrl}/v1/twins/${victim.leadId}`, { headers: authHeader(apiKey) })).status,
    ).toBe(404);
    await waitFor('index and catalog forget it', async () => {
      const total = (await json('/v1/search?top=1')).body.total;
      const meta = await fetch(`${baseUrl}/v1/twins/${victim.leadId}/metadata`, {
        headers: authHeader(apiKey),
      });
      return total === COUNT - 1 && meta.status === 404;
    });

    // open the stores through the same composition the services use, so this works on either profile
    const stores = await createAdapters(loadConfig(env), pino({ level: 'silent' }));
    try {
      const blobs: string[] = [];
      for await (const b of stores.content.list('digital-twins/'))
        if (b.path.includes(victim.leadId)) blobs.push(b.path);
      expect(blobs).toEqual([]);
      expect(await stores.content.head(metadataPath(victim.leadId))).toBeNull();
      expect(await stores.catalog.get(victim.leadId)).toBeNull();
      expect(await stores.search.version(victim.leadId)).toBeNull();
      await waitFor('tiering forgets it', async () => (await stores.activity.get(victim.leadId)) === null);
      expect(await stores.cache.get(victim.leadId)).toBeNull();
      // the others are untouched
      expect(await stores.catalog.count()).toBe(COUNT - 1);
    } finally {
      await closeAdapters(stores);
    }
  }, 60_000);

  it('every service stops gracefully on SIGTERM, and no log line carries personal data', async () => {
    const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    const unclean = services.filter((_, i) => codes[i] !== 0);
    expect(
      Object.fromEntries(services.map((s, i) => [s.name, codes[i]])),
      unclean.map((s) => `--- ${s.name}\n${s.output().slice(-3000)}`).join('\n'),
    ).toEqual(Object.fromEntries(services.map((s) => [s.name, 0])));
    const logs = services.map((s) => s.output()).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(apiKey.split('_').slice(2).join('_'));
    for (const p of personas.slice(0, 50)) {
      const firstLine = p.markdown.split(/\r?\n/).find((l) => l.trim().length > 20);
      if (firstLine) expect(logs).not.toContain(firstLine);
      expect(logs).not.toMatch(new RegExp(`"income":\\s*${p.metadata.income}\\b`));
    }
  }, 60_000);
});
