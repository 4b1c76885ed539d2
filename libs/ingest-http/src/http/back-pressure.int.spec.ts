import { request as httpRequest } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventBusAdmin } from '@twinstore/application';
import type { TwinsConfig, TwinsRuntime } from '@twinstore/platform';
import { createIngestApp, startIngestApi } from '../ingest-api';
import { bearer, testApiKey, withApiKey } from '../testing/api-keys';
import { createTestRuntime, TEST_CONFIG, TestRuntime } from '../testing/test-runtime';

type FlowControlConfig = TwinsConfig['flowControl'];

const OFF: FlowControlConfig = {
  rateLimit: { ratePerSecond: 0, burst: 0, maxKeys: 1000 },
  maxInflightWrites: 0,
  maxBusBacklog: 0,
  busBacklogSampleMs: 1000,
};

const twin = (n: number) => ({
  markdown: `# Persona ${n}\nWants term-life cover.`,
  metadata: { age: 40, income: 90_000, classification: 'hot', location: 'Perth', tags: ['family'] },
});

const put = (leadId: string, n = 1): InjectOptions => ({
  method: 'PUT',
  url: `/v1/twins/${leadId}`,
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(twin(n)),
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ingest API flow control (rate limit, back-pressure)', () => {
  const apps: NestFastifyApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function setup(
    flowControl: Partial<FlowControlConfig>,
    options: { busAdmin?: EventBusAdmin; metricsEnabled?: boolean } = {},
  ) {
    let now = 5_000_000;
    const t: TestRuntime = createTestRuntime({
      flowControl: { ...OFF, ...flowControl },
      metricsEnabled: options.metricsEnabled ?? TEST_CONFIG.metricsEnabled,
    });
    const runtime: TwinsRuntime = options.busAdmin ? { ...t.runtime, busAdmin: options.busAdmin } : t.runtime;
    const app = await createIngestApp(runtime, { logger: false, flowControlClock: () => now });
    apps.push(app);
    const fastify = app.getHttpAdapter().getInstance();
    const raw = (o: InjectOptions) => fastify.inject(o);
    return {
      t,
      raw,
      inject: withApiKey(raw, t.adminKey),
      advance: (ms: number) => void (now += ms),
    };
  }

  describe('rate limit per key', () => {
    it('lets a burst through, then answers 429 with Retry-After from the bucket; nothing is written', async () => {
      const { t, inject, advance } = await setup({
        rateLimit: { ratePerSecond: 0.5, burst: 3, maxKeys: 100 },
      });
      for (let i = 0; i < 3; i++) {
        const res = await inject(put(`lead-${i}`));
        expect(res.statusCode).toBe(202);
        expect(res.headers['ratelimit-limit']).toBe('3');
        expect(res.headers['ratelimit-remaining']).toBe(String(2 - i));
      }
      const puts = t.content.puts.length;
      const events = t.publisher.events.length;

      const refused = await inject(put('lead-refused'));
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('2'); // one token at 0.5/s
      expect(refused.headers['ratelimit-remaining']).toBe('0');
      expect(refused.headers['ratelimit-reset']).toBe('6');
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json()).toEqual({
        type: 'https://twinstore.dev/problems/rate-limited',
        title: 'Too many requests',
        status: 429,
        detail: 'too many requests for this client; retry after 2 s',
        instance: '/v1/twins/lead-refused',
        code: 'HTTP.RATE_LIMITED',
      });
      expect(t.content.puts.length).toBe(puts);
      expect(t.publisher.events.length).toBe(events);

      // reads draw from the same bucket
      expect((await inject({ method: 'GET', url: '/v1/search?q=x' })).statusCode).toBe(429);
      advance(1999);
      expect((await inject(put('lead-later'))).statusCode).toBe(429);
      advance(1);
      expect((await inject(put('lead-later'))).statusCode).toBe(202);
      expect((await inject(put('lead-later'))).statusCode).toBe(429);
    });

    it('gives every API key its own bucket', async () => {
      const { t, raw } = await setup({ rateLimit: { ratePerSecond: 1, burst: 2, maxKeys: 100 } });
      const a = withApiKey(raw, await testApiKey(t.runtime.apiKeys, ['admin'], 'a'));
      const b = withApiKey(raw, await testApiKey(t.runtime.apiKeys, ['admin'], 'b'));
      expect((await a(put('a-1'))).statusCode).toBe(202);
      expect((await a(put('a-2'))).statusCode).toBe(202);
      expect((await a(put('a-3'))).statusCode).toBe(429);
      expect((await b(put('b-1'))).statusCode).toBe(202);
      expect((await b(put('b-2'))).statusCode).toBe(202);
      expect((await b(put('b-3'))).statusCode).toBe(429);
    });

    it('does not limit health, readiness or metrics, and spends no tokens on a request refused 401', async () => {
      const { raw, inject } = await setup({ rateLimit: { ratePerSecond: 1, burst: 1, maxKeys: 100 } });
      for (let i = 0; i < 5; i++) {
        for (const url of ['/healthz', '/readyz', '/metrics']) {
          const res = await raw({ method: 'GET', url });
          expect(res.statusCode, url).toBe(200);
          expect(res.headers['ratelimit-limit']).toBeUndefined();
        }
        expect((await raw(put('anon'))).statusCode).toBe(401);
      }
      expect((await inject(put('authenticated'))).statusCode).toBe(202);
    });
  });

  describe('bounded in-flight writes', () => {
    it('answers 503 with Retry-After at once beyond the cap, writes nothing, and still serves reads', async () => {
      const { t, inject } = await setup({ maxInflightWrites: 2 });
      expect((await inject(put('existing'))).statusCode).toBe(202);
      await t.project();

      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const original = t.content.put.bind(t.content);
      let started = 0;
      t.content.put = async (...args) => {
        started++;
        await gate;
        return original(...args);
      };
      const held = [inject(put('held-1')), inject(put('held-2'))];
      while (started < 2) await tick();
      const puts = t.content.puts.length;
      const events = t.publisher.events.length;

      const refused = await inject(put('refused'));
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json()).toMatchObject({
        type: 'https://twinstore.dev/problems/overloaded',
        status: 503,
        code: 'HTTP.OVERLOADED',
        detail: 'too many writes in progress; retry after 1 s',
      });
      expect((await inject({ method: 'DELETE', url: '/v1/twins/existing' })).statusCode).toBe(503);
      expect(started).toBe(2); // the refused requests never reached the store
      expect(t.content.puts.length).toBe(puts);
      expect(t.publisher.events.length).toBe(events);
      expect([...t.content.blobs.keys()].some((p) => p.includes('refused'))).toBe(false);

      expect((await inject({ method: 'GET', url: '/v1/twins/existing' })).statusCode).toBe(200);
      expect((await inject({ method: 'GET', url: '/v1/search?q=term' })).statusCode).toBe(200);

      open();
      expect((await Promise.all(held)).map((r) => r.statusCode)).toEqual([202, 202]);
      // the slots were given back: the cap is not leaked by finished requests, successful or not
      t.content.failNextPut = new Error('disk full');
      expect((await inject(put('fails'))).statusCode).toBe(500);
      const again = await Promise.all([inject(put('again-1')), inject(put('again-2'))]);
      expect(again.map((r) => r.statusCode)).toEqual([202, 202]);
    });
  });

  describe('a client that goes away mid-write', () => {
    it('keeps its slot until the handler has finished, then frees it', async () => {
      const t = createTestRuntime({ flowControl: { ...OFF, maxInflightWrites: 1 } });
      const api = await startIngestApi(t.runtime, { logger: false });
      try {
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const original = t.content.put.bind(t.content);
        let started = 0;
        let finished = 0;
        t.content.put = async (...args) => {
          started++;
          await gate;
          const result = await original(...args);
          finished++;
          return result;
        };
        const body = JSON.stringify(twin(1));
        const req = httpRequest(`${api.url}/v1/twins/abandoned`, {
          method: 'PUT',
          headers: { ...bearer(t.adminKey), 'content-type': 'application/json' },
        });
        req.on('error', () => undefined);
        req.end(body);
        while (started < 1) await tick();
        req.destroy();
        await new Promise((resolve) => setTimeout(resolve, 50));

        const send = () =>
          fetch(`${api.url}/v1/twins/next`, {
            method: 'PUT',
            headers: { ...bearer(t.adminKey), 'content-type': 'application/json' },
            body,
          });
        const refused = await send();
        expect(refused.status).toBe(503); // the abandoned write is still running: its slot is still taken
        expect(refused.headers.get('retry-after')).toBe('1');
        open();
        while (finished < 1) await tick();
        await tick();
        expect((await send()).status).toBe(202);
      } finally {
        await api.close();
      }
    });
  });

  describe('bus backlog', () => {
    function fakeBus(initial: number) {
      const calls: number[] = [];
      const state = { value: initial };
      return {
        state,
        calls,
        admin: {
          stats: async () => [],
          backlog: async (atMost?: number): Promise<number> => {
            calls.push(atMost ?? Infinity);
            return Math.min(state.value, atMost ?? Infinity);
          },
          listDeadLetters: async () => [],
          redrive: async () => 0,
          purgeDeadLetters: async () => 0,
          close: async () => undefined,
        } satisfies EventBusAdmin,
      };
    }

    it('refuses writes with 503 + Retry-After while the backlog is over the limit; reads and search are served', async () => {
      const bus = fakeBus(5_000);
      const { t, inject, advance } = await setup(
        { maxBusBacklog: 1_000, busBacklogSampleMs: 1_000 },
        { busAdmin: bus.admin },
      );
      expect((await inject(put('first'))).statusCode).toBe(202); // no sample yet: admitted, sampling starts
      await tick();
      await t.project();
      const puts = t.content.puts.length;

      const refused = await inject(put('first', 2));
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.json()).toMatchObject({
        type: 'https://twinstore.dev/problems/overloaded',
        code: 'HTTP.OVERLOADED',
        status: 503,
        detail: 'the event backlog is too long to take writes now; retry after 5 s',
      });
      const batch = await inject({
        method: 'POST',
        url: '/v1/twins:batch',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ items: [{ leadId: 'b-1', ...twin(1) }] }),
      });
      expect(batch.statusCode).toBe(503);
      expect(t.content.puts.length).toBe(puts);

      expect((await inject({ method: 'GET', url: '/v1/twins/first' })).statusCode).toBe(200);
      expect((await inject({ method: 'GET', url: '/v1/twins/first/metadata' })).statusCode).toBe(200);
      expect((await inject({ method: 'GET', url: '/v1/search?q=term' })).statusCode).toBe(200);

      // sampled at most once per interval, however many writes, and counted only up to the limit + 1
      for (let i = 0; i < 20; i++) await inject(put('more'));
      expect(bus.calls).toEqual([1_001]);

      bus.state.value = 10;
      advance(1_000);
      await inject(put('still-old-sample')); // answered from the last sample; starts a new one
      await tick();
      expect((await inject(put('drained'))).statusCode).toBe(202);
      expect(bus.calls).toHaveLength(2);
    });
  });

  describe('busy backends', () => {
    it('map throttling and busy errors to 503 with Retry-After and no internals; faults stay 500', async () => {
      const { t, inject } = await setup({});
      const secret = 'ServerBusy RequestId:4f1c https://acct.blob.core.windows.net/twins';
      t.content.failNextPut = Object.assign(new Error(secret), {
        name: 'RestError',
        statusCode: 503,
        code: 'ServerBusy',
        response: { headers: new Map([['retry-after', '3']]) },
      });
      const busy = await inject(put('busy'));
      expect(busy.statusCode).toBe(503);
      expect(busy.headers['retry-after']).toBe('3');
      expect(busy.json()).toEqual({
        type: 'https://twinstore.dev/problems/backend-busy',
        title: 'A backend is busy',
        status: 503,
        detail: 'the service is busy; retry after the Retry-After delay',
        instance: '/v1/twins/busy',
        code: 'HTTP.BACKEND_BUSY',
      });
      expect(busy.body).not.toMatch(/RequestId|windows\.net|ServerBusy/);

      t.content.failNextPut = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      const locked = await inject(put('locked'));
      expect(locked.statusCode).toBe(503);
      expect(locked.headers['retry-after']).toBe('1');
      expect(locked.body).not.toMatch(/database is locked|SQLITE/);

      t.content.failNextPut = Object.assign(new Error('Request rate is large'), {
        code: 429,
        retryAfterInMs: 1500,
      });
      const throttled = await inject(put('throttled'));
      expect(throttled.statusCode).toBe(503);
      expect(throttled.headers['retry-after']).toBe('2');

      t.content.failNextPut = new Error('disk I/O error');
      expect((await inject(put('fault'))).statusCode).toBe(500);
    });

    it('answer a busy batch item 503 on its own', async () => {
      const { t, inject } = await setup({});
      t.content.failNextPut = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      const res = await inject({
        method: 'POST',
        url: '/v1/twins:batch',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ items: [{ leadId: 'x-1', ...twin(1) }] }),
      });
      expect(res.statusCode).toBe(207);
      const [item] = (res.json() as { results: { status: number; problem: { code: string } }[] }).results;
      expect(item.status).toBe(503);
      expect(item.problem.code).toBe('HTTP.BACKEND_BUSY');
    });
  });

  it('counts rejections by reason in Prometheus metrics', async () => {
    const { t, inject, raw } = await setup(
      { rateLimit: { ratePerSecond: 1, burst: 1, maxKeys: 10 } },
      { metricsEnabled: true },
    );
    await inject(put('m-1'));
    await inject(put('m-2'));
    t.content.failNextPut = Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' });
    const other = withApiKey(raw, await testApiKey(t.runtime.apiKeys, ['admin'], 'other'));
    expect((await other(put('m-3'))).statusCode).toBe(503);
    const text = (await raw({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(
      /twins_http_rejections_total\{reason="rate-limit",method="PUT",route="\/v1\/twins\/:leadId"[^}]*\} 1/,
    );
    expect(text).toMatch(/twins_http_rejections_total\{reason="backend-busy",method="PUT"[^}]*\} 1/);
    expect(text).toMatch(/twins_http_inflight_writes(\{[^}]*\})? 0/);
  });

  it('documents 429 on every API operation and 503 on writes in OpenAPI', async () => {
    const { raw } = await setup({});
    const doc = (await raw({ method: 'GET', url: '/docs/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>
      >;
    };
    const put = doc.paths['/v1/twins/{leadId}'].put.responses;
    expect(put['429'].headers).toHaveProperty('Retry-After');
    expect(put['503'].headers).toHaveProperty('Retry-After');
    expect(doc.paths['/v1/twins:batch'].post.responses['503']).toBeDefined();
    expect(doc.paths['/v1/twins/{leadId}'].delete.responses['503']).toBeDefined();
    expect(doc.paths['/v1/search'].get.responses['429']).toBeDefined();
    expect(doc.paths['/healthz'].get.responses['429']).toBeUndefined();
  });
});
