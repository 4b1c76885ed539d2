import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { TwinsConfig } from '@twinstore/platform';
import { createIngestApp, startIngestApi } from './ingest-api';
import {
  CONTRACT_BATCH_MAX,
  CONTRACT_BODY_LIMIT,
  describeIngestApiContract,
  expectProblem,
} from './testing/ingest-api.contract';
import { bearer, withApiKey } from './testing/api-keys';
import { createTestRuntime } from './testing/test-runtime';

describeIngestApiContract('ingest API over in-memory test doubles', async () => {
  const t = createTestRuntime({ bodyLimitBytes: CONTRACT_BODY_LIMIT, batchMaxItems: CONTRACT_BATCH_MAX });
  const api = await startIngestApi(t.runtime, { logger: false });
  const fastify = api.app.getHttpAdapter().getInstance();
  return {
    runtime: t.runtime,
    url: api.url,
    apiKey: t.adminKey,
    inject: withApiKey((options) => fastify.inject(options), t.adminKey),
    snapshot: async () => ({
      puts: t.content.puts.length,
      blobs: [...t.content.blobs.keys()].sort(),
      events: t.publisher.events.length,
    }),
    settle: () => t.project(),
    close: () => api.close(),
  };
});

describe('ingest API (unit)', () => {
  const apps: NestFastifyApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function setup(config: Partial<TwinsConfig> = {}, logger = true) {
    const t = createTestRuntime(config);
    const app = await createIngestApp(t.runtime, { logger });
    apps.push(app);
    const fastify = app.getHttpAdapter().getInstance();
    return { t, app, inject: withApiKey((o: InjectOptions) => fastify.inject(o), t.adminKey) };
  }

  const putJson = (leadId: string, body: unknown, headers: Record<string, string> = {}) => ({
    method: 'PUT' as const,
    url: `/v1/twins/${leadId}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });

  describe('unexpected failures', () => {
    it('answer a 500 problem with a generic detail and the request id, never the internals', async () => {
      const { t, inject } = await setup();
      t.content.failNextPut = new Error(
        'SQLITE_IOERR: disk I/O error writing /var/lib/twins/blobs/x.md during INSERT INTO catalog',
      );
      const res = await inject(putJson('lead-1', { markdown: '# private persona' }));
      const problem = expectProblem(res, 500, 'HTTP.INTERNAL');
      expect(problem.correlationId).toBe(res.headers['x-request-id']);
      expect(problem.detail).not.toMatch(/SQLITE|var\/lib|INSERT/);
      expect(res.body).not.toContain('private persona');
      const logged = t.logs.find((l) => l.includes('request failed'))!;
      expect(logged).toContain(String(res.headers['x-request-id']));
      expect(logged).toContain('SQLITE_IOERR');
      expect(logged).not.toContain('private persona');
    });

    it('fail only the affected batch item (500 with a correlation id); the others are saved', async () => {
      const { t, inject } = await setup();
      t.content.failNextPut = new Error('disk full');
      const res = await inject({
        method: 'POST',
        url: '/v1/twins:batch',
        payload: {
          items: [
            { leadId: 'a1', markdown: '# a' },
            { leadId: 'b2', markdown: '# b' },
          ],
        },
      });
      expect(res.statusCode).toBe(207);
      const results = res.json<{ results: { status: number; problem?: Record<string, unknown> }[] }>()
        .results;
      expect(results.map((r) => r.status).sort()).toEqual([202, 500]);
      const failed = results.find((r) => r.status === 500)!;
      expect(failed.problem).toMatchObject({
        code: 'HTTP.INTERNAL',
        correlationId: res.headers['x-request-id'],
      });
      expect(JSON.stringify(failed.problem)).not.toContain('disk full');
      expect(t.content.puts).toHaveLength(1);
    });
  });

  describe('logging', () => {
    it('logs method, route pattern, status, duration and request id, but no bodies or query values', async () => {
      const { t, inject } = await setup();
      await inject(
        putJson('lead-log', {
          markdown: '# SECRET-MARKDOWN',
          metadata: { location: 'SECRET-LOCATION', income: 987654, age: 77, nickname: 'SECRET-EXTRA' },
        }),
      );
      await inject({
        method: 'PUT',
        url: '/v1/twins/lead-log',
        headers: { 'content-type': 'text/markdown' },
        payload: '---\nlocation: SECRET-FRONT\n---\n# SECRET-MD',
      });
      await inject({
        method: 'PUT',
        url: '/v1/twins/lead-log',
        headers: { 'content-type': 'application/json' },
        payload: '{"SECRET-BROKEN',
      });
      await inject({ method: 'GET', url: '/v1/search?q=SECRET-QUERY&location=SECRET-CITY&minIncome=987654' });
      await inject({ method: 'GET', url: '/v1/search?q=SECRET-QUERY&bogus=SECRET-BOGUS' });
      const text = t.logs.join('');
      expect(text).not.toMatch(/SECRET|987654/);
      const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      const access = lines.filter((l) => l.msg === 'request completed');
      expect(access).toHaveLength(5);
      expect(access[0]).toMatchObject({
        method: 'PUT',
        route: '/v1/twins/:leadId',
        status: 202,
        durationMs: expect.any(Number),
        reqId: expect.any(String),
      });
      expect(access[3]).toMatchObject({
        route: '/v1/search',
        status: 200,
        queryParams: ['q', 'location', 'minIncome'],
      });
      expect(access[4]).toMatchObject({ status: 400, queryParams: ['q', 'bogus'] });
    });

    it('writes no access log lines when the logger option is off', async () => {
      const { t, inject } = await setup({}, false);
      await inject({ method: 'GET', url: '/healthz' });
      expect(t.logs.filter((l) => l.includes('request completed'))).toHaveLength(0);
    });
  });

  describe('readiness', () => {
    it('answers 503 problem+json naming the failing dependency', async () => {
      const { t, inject } = await setup();
      t.failCheck = 'catalog';
      const res = await inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        status: 503,
        code: 'HTTP.NOT_READY',
        detail: 'unavailable: catalog',
        checks: [
          { name: 'content-store', ok: true },
          { name: 'catalog', ok: false },
        ],
      });
      expect((await inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    });

    it('answers 503 when the check itself throws', async () => {
      const { t, inject } = await setup();
      t.runtime.checkDependencies = async () => {
        throw new Error('connection refused 10.0.0.5:6379');
      };
      const res = await inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.body).not.toContain('10.0.0.5');
    });
  });

  describe('configuration', () => {
    it('serves neither /metrics nor /docs when they are disabled', async () => {
      const { inject } = await setup({ metricsEnabled: false, docsEnabled: false });
      expectProblem(await inject({ method: 'GET', url: '/metrics' }), 404, 'HTTP.NOT_FOUND');
      expectProblem(await inject({ method: 'GET', url: '/docs/openapi.json' }), 404, 'HTTP.NOT_FOUND');
      expectProblem(await inject({ method: 'GET', url: '/docs' }), 404, 'HTTP.NOT_FOUND');
    });

    it('can be created twice on one runtime (one metrics registry) and counts both', async () => {
      const t = createTestRuntime();
      const first = await createIngestApp(t.runtime, { logger: false });
      const second = await createIngestApp(t.runtime, { logger: false });
      apps.push(first, second);
      await first.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/healthz' });
      await second.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/healthz' });
      const metric = await t.runtime.metrics.getSingleMetric('twins_http_requests_total')!.get();
      const healthz = metric.values.find((v) => v.labels.route === '/healthz');
      expect(healthz?.value).toBe(2);
    });
  });

  describe('use case wiring', () => {
    it('passes a valid traceparent on to the event and ignores a malformed one', async () => {
      const { t, inject } = await setup();
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await inject(putJson('traced', { markdown: '# t' }, { traceparent }));
      await inject(putJson('untraced', { markdown: '# u' }, { traceparent: 'garbage' }));
      expect(t.publisher.events.map((e) => e.traceparent)).toEqual([traceparent, undefined]);
    });

    it('gives the search use case the parsed query (lists comma-separated or repeated)', async () => {
      const { t, inject } = await setup();
      t.search.result = {
        total: 1,
        hits: [
          {
            leadId: 'x1',
            version: '01ARZ3NDEKTSV4RRFFQ69G5FAV' as never,
            score: 1,
            highlights: [],
            classification: 'hot',
            tags: [],
          },
        ],
        facets: { classification: [{ value: 'hot', count: 1 }] },
      };
      const res = await inject({
        method: 'GET',
        url: '/v1/search?q=berlin%20cyclist&classification=hot,warm&tags=VIP&tags=b2b&minAge=30&facets=classification',
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(t.search.result);
      expect(t.search.queries).toEqual([
        {
          q: 'berlin cyclist',
          classification: ['hot', 'warm'],
          tags: ['vip', 'b2b'],
          minAge: 30,
          top: 20,
          skip: 0,
          facets: ['classification'],
        },
      ]);
    });

    it('refuses a __proto__ search parameter instead of letting it through', async () => {
      const { t, inject } = await setup();
      expectProblem(
        await inject({ method: 'GET', url: '/v1/search?__proto__=x' }),
        400,
        'SEARCH.INVALID_QUERY',
      );
      expect(t.search.queries).toHaveLength(0);
    });

    it('saves a batch with bounded concurrency (at most 16 saves in flight)', async () => {
      const { t, inject } = await setup({ batchMaxItems: 100 });
      let inFlight = 0;
      let most = 0;
      const put = t.content.put.bind(t.content);
      t.content.put = async (...args) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        try {
          return await put(...args);
        } finally {
          inFlight--;
        }
      };
      const items = Array.from({ length: 60 }, (_, i) => ({ leadId: `lead-${i}`, markdown: `# ${i}` }));
      const res = await inject({ method: 'POST', url: '/v1/twins:batch', payload: { items } });
      expect(res.statusCode).toBe(200);
      expect(t.content.puts).toHaveLength(60);
      expect(most).toBe(16);
    });
  });

  describe('startIngestApi', () => {
    it('listens on the configured port, drains in-flight requests and flushes access events on close', async () => {
      const t = createTestRuntime();
      const api = await startIngestApi(t.runtime, { logger: false });
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await fetch(`${api.url}/v1/twins/reader`, {
        method: 'PUT',
        headers: { 'content-type': 'text/markdown', ...bearer(t.adminKey) },
        body: '# read me',
      });
      await t.project();
      expect((await fetch(`${api.url}/v1/twins/reader`, { headers: bearer(t.adminKey) })).status).toBe(200);

      const put = t.content.put.bind(t.content);
      t.content.put = async (...args) => {
        await new Promise((r) => setTimeout(r, 150));
        return put(...args);
      };
      const slow = fetch(`${api.url}/v1/twins/slow`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...bearer(t.adminKey) },
        body: JSON.stringify({ markdown: '# slow' }),
      });
      await new Promise((r) => setTimeout(r, 30));
      await api.close();
      expect((await slow).status).toBe(202);
      const saved = t.publisher.events.find((e) => e.type === 'twin.saved.v1' && e.subject === 'slow');
      expect(saved?.type === 'twin.saved.v1' && t.content.blobs.has(saved.data.blobPath)).toBe(true);
      expect(t.publisher.events.some((e) => e.type === 'twin.accessed.v1' && e.subject === 'reader')).toBe(
        true,
      );
      await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
      await api.close(); // idempotent
    });
  });
});
