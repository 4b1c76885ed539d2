import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

interface Backends {
  env: Record<string, string>;
  stop(): Promise<void>;
}

const embedded = async (): Promise<Backends> => ({ env: {}, stop: async () => {} });

/** Azure with Redis: RecentWrites on Redis. */
const azureRedis = async (): Promise<Backends> => {
  const [started, redis] = await Promise.all([startAzureTestBackends(), startRedisServer()]);
  return {
    env: { ...started.env, TWINS_REDIS_URL: redis.url },
    stop: async () => {
      await Promise.all([started.stop(), redis.stop()]);
    },
  };
};

/** Azure without Redis: RecentWrites on Table Storage. */
const azureTable = async (): Promise<Backends> => {
  const started = await startAzureTestBackends();
  return { env: started.env, stop: () => started.stop() };
};

/**
 * Read-your-writes with the services apart: the ingest API runs alone (no writer at all, the worst lag there
 * is), every GET right after its 202 answers that version; then the writer starts and the projections agree.
 */
// Fewer twins on azure: the stand-ins are slower, and the point is the same.
describe.each([
  { profile: 'embedded', backends: embedded, single: 200, batch: 100 },
  { profile: 'azure (Redis)', backends: azureRedis, single: 40, batch: 40 },
  { profile: 'azure (Table Storage)', backends: azureTable, single: 40, batch: 40 },
])(
  'read-your-writes with ingest-api and writer apart: $profile',
  ({ backends: startBackends, single, batch }) => {
    let dataDir: { dir: string; cleanup(): Promise<void> };
    let backends: Backends;
    let env: Record<string, string>;
    let buildDir: string;
    const services: ServiceProcess[] = [];
    let baseUrl: string;
    let apiKey: string;
    const accepted = new Map<string, string>();
    const run = Date.now().toString(36);

    const request = (path: string, init: RequestInit = {}) =>
      fetch(`${baseUrl}${path}`, {
        ...init,
        headers: {
          ...authHeader(apiKey),
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
      });

    /** GET, metadata and versions of the lead: the status of each and the version each names. */
    const readBack = async (leadId: string) => {
      const [twin, metadata, versions] = await Promise.all([
        request(`/v1/twins/${leadId}`),
        request(`/v1/twins/${leadId}/metadata`),
        request(`/v1/twins/${leadId}/versions`),
      ]);
      return {
        statuses: [twin.status, metadata.status, versions.status],
        twin: twin.headers.get('x-twin-version'),
        metadata: metadata.status === 200 ? ((await metadata.json()) as { version: string }).version : null,
        versions:
          versions.status === 200
            ? ((await versions.json()) as { versions: { version: string }[] }).versions[0].version
            : null,
        body: twin.status === 200 ? await twin.text() : null,
      };
    };

    beforeAll(async () => {
      buildDir = buildAppsForTest('e2e-ryw');
      dataDir = await makeTempDir('twins-e2e-ryw-');
      backends = await startBackends();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      env = {
        ...backends.env,
        TWINS_DATA_DIR: dataDir.dir,
        TWINS_PORT: String(port),
        TWINS_LOG_LEVEL: 'warn',
      };
      apiKey = await createTestApiKey(env);
      services.push(spawnService(buildDir, 'ingest-api', [], env));
      await waitFor(
        'ingest-api ready',
        async () => (await fetch(`${baseUrl}/readyz`)).status === 200,
        60_000,
      );
    }, 180_000);

    afterAll(async () => {
      await Promise.all(services.map((s) => s.stop('SIGKILL')));
      await backends?.stop();
      await dataDir?.cleanup();
    });

    it(`${single} PUTs, each read back at once: GET, metadata and versions answer its version, no 404`, async () => {
      const misses: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < single) {
          const leadId = `ryw-${run}-${next++}`;
          const markdown = `# ${leadId}\n\nread me back\n`;
          const put = await request(`/v1/twins/${leadId}`, {
            method: 'PUT',
            body: JSON.stringify({ markdown, metadata: { classification: 'hot' } }),
          });
          expect(put.status).toBe(202);
          const { version } = (await put.json()) as { version: string };
          accepted.set(leadId, version);
          const read = await readBack(leadId);
          if (
            read.statuses.some((s) => s !== 200) ||
            read.twin !== version ||
            read.metadata !== version ||
            read.versions !== version ||
            read.body !== markdown
          ) {
            misses.push(`${leadId}: ${JSON.stringify(read.statuses)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(misses).toEqual([]);
    }, 120_000);

    it(`a batch of ${batch}, read back at once`, async () => {
      const items = Array.from({ length: batch }, (_, i) => ({
        leadId: `ryw-batch-${run}-${i}`,
        markdown: `# batch ${i}\n`,
        metadata: { classification: 'warm' },
      }));
      const res = await request('/v1/twins:batch', { method: 'POST', body: JSON.stringify({ items }) });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      const { results } = (await res.json()) as {
        results: { leadId: string; status: number; version: string }[];
      };
      expect(results.every((r) => r.status === 202)).toBe(true);
      const reads = await Promise.all(results.map((r) => readBack(r.leadId)));
      reads.forEach((read, i) => {
        expect(read.statuses).toEqual([200, 200, 200]);
        expect([read.twin, read.metadata, read.versions]).toEqual(Array(3).fill(results[i].version));
      });
      for (const r of results) accepted.set(r.leadId, r.version);
    }, 60_000);

    it('PUT then DELETE: 404 everywhere although the save was noted within the horizon', async () => {
      const leadId = `ryw-erased-${run}`;
      const put = await request(`/v1/twins/${leadId}`, {
        method: 'PUT',
        body: JSON.stringify({ markdown: '# erase me\n', metadata: {} }),
      });
      expect(put.status).toBe(202);
      expect((await request(`/v1/twins/${leadId}`, { method: 'DELETE' })).status).toBe(202);
      expect((await readBack(leadId)).statuses).toEqual([404, 404, 404]);
      accepted.set(leadId, 'deleted');
    });

    it('once the writer runs, the projections agree and the erased twin stays gone', async () => {
      const management = await freePort();
      services.push(
        spawnService(buildDir, 'writer', [], { ...env, TWINS_MANAGEMENT_PORT: String(management) }),
      );
      const stores = await createAdapters(loadConfig(env), pino({ level: 'silent' }));
      try {
        for (const [leadId, version] of accepted) {
          await waitFor(`the writer projected ${leadId}`, async () =>
            version === 'deleted'
              ? (await stores.catalog.tombstone(leadId)) !== null
              : (await stores.catalog.get(leadId))?.version === version,
          );
        }
        for (const [leadId, version] of accepted) {
          const read = await readBack(leadId);
          if (version === 'deleted') expect(read.statuses).toEqual([404, 404, 404]);
          else expect([read.twin, read.metadata, read.versions]).toEqual([version, version, version]);
        }
      } finally {
        await closeAdapters(stores);
      }
    }, 120_000);
  },
);
