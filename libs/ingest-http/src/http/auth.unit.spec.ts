import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Fastify from 'fastify';
import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiScope, issueApiKey } from '@twinstore/application';
import type { TwinsConfig } from '@twinstore/platform';
import { createIngestApp } from '../ingest-api';
import { expectProblem } from '../testing/ingest-api.contract';
import { createTestRuntime, TEST_CONFIG, TestRuntime } from '../testing/test-runtime';
import { credentialOf, principalOf, registerAuth, requirementOf } from './auth';

const twin = (markdown = '# Ada\n') => ({
  method: 'PUT' as const,
  url: '/v1/twins/lead-auth',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ markdown }),
});
const withKey = (options: InjectOptions, key: string, header: 'bearer' | 'x-api-key' = 'bearer') => ({
  ...options,
  headers: {
    ...(options.headers ?? {}),
    ...(header === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key }),
  },
});

describe('HTTP API authentication and scopes', () => {
  const apps: NestFastifyApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function setup(auth: Partial<TwinsConfig['auth']> = {}, config: Partial<TwinsConfig> = {}) {
    const t = createTestRuntime({ ...config, auth: { ...TEST_CONFIG.auth, ...auth } });
    const app = await createIngestApp(t.runtime, { logger: true });
    apps.push(app);
    const fastify = app.getHttpAdapter().getInstance();
    const key = async (scopes: ApiScope[]) => (await issueApiKey(t.apiKeys, { name: 'k', scopes })).key;
    return { t, inject: (o: InjectOptions) => fastify.inject(o), key };
  }

  it('refuses a request without credentials: 401 problem with WWW-Authenticate, nothing written', async () => {
    const { t, inject } = await setup();
    const res = await inject(twin());
    expectProblem(res, 401, 'AUTH.UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="twinstore"');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(t.content.puts).toHaveLength(0);
    for (const url of ['/v1/twins/lead-auth', '/v1/twins/lead-auth/metadata', '/v1/search?q=x']) {
      expectProblem(await inject({ method: 'GET', url }), 401, 'AUTH.UNAUTHENTICATED');
    }
    expectProblem(await inject({ method: 'DELETE', url: '/v1/twins/x' }), 401, 'AUTH.UNAUTHENTICATED');
    expectProblem(
      await inject({ method: 'POST', url: '/v1/twins:batch', payload: { items: [] } }),
      401,
      'AUTH.UNAUTHENTICATED',
    );
  });

  it.each([
    ['a malformed key', 'not-a-key'],
    ['an unknown key id', `tws_0123456789abcdef_${'A'.repeat(43)}`],
    ['a JWT while no issuer is configured', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'],
    ['an empty bearer', ''],
  ])('refuses %s: 401 invalid_token', async (_what, credential) => {
    const { inject } = await setup();
    const res = await inject(withKey(twin(), credential));
    expectProblem(res, 401, 'AUTH.UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="twinstore"/);
  });

  it('refuses a known key id with the wrong secret', async () => {
    const { inject, key } = await setup();
    const good = await key(['admin']);
    const wrong = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expectProblem(await inject(withKey(twin(), wrong)), 401, 'AUTH.UNAUTHENTICATED');
    expect((await inject(withKey(twin(), good))).statusCode).toBe(202);
  });

  it('accepts the key as Authorization: Bearer and as X-Api-Key', async () => {
    const { inject, key } = await setup();
    const k = await key(['twins:write']);
    expect((await inject(withKey(twin(), k, 'bearer'))).statusCode).toBe(202);
    expect((await inject(withKey(twin(), k, 'x-api-key'))).statusCode).toBe(202);
    const lower = { ...twin(), headers: { ...twin().headers, authorization: `bearer ${k}` } };
    expect((await inject(lower)).statusCode).toBe(202);
  });

  it('checks scopes: 403 with insufficient_scope when the key lacks the route scope', async () => {
    const { inject, key } = await setup();
    const read = await key(['twins:read']);
    const write = await key(['twins:write']);
    const search = await key(['search']);
    const put = await inject(withKey(twin(), read));
    expectProblem(put, 403, 'AUTH.FORBIDDEN');
    expect(put.headers['www-authenticate']).toBe(
      'Bearer realm="twinstore", error="insufficient_scope", scope="twins:write"',
    );
    expectProblem(
      await inject(withKey({ method: 'DELETE', url: '/v1/twins/x' }, read)),
      403,
      'AUTH.FORBIDDEN',
    );
    expectProblem(
      await inject(withKey({ method: 'POST', url: '/v1/twins:batch', payload: { items: [] } }, search)),
      403,
      'AUTH.FORBIDDEN',
    );
    expectProblem(await inject(withKey({ method: 'GET', url: '/v1/twins/x' }, write)), 403, 'AUTH.FORBIDDEN');
    expectProblem(await inject(withKey({ method: 'GET', url: '/v1/search' }, read)), 403, 'AUTH.FORBIDDEN');
    // the right scope passes authentication (and reaches the route: 404 for a twin that is not there)
    expectProblem(await inject(withKey({ method: 'GET', url: '/v1/twins/x' }, read)), 404, 'TWIN.NOT_FOUND');
    expectProblem(
      await inject(withKey({ method: 'GET', url: '/v1/twins/x/metadata' }, read)),
      404,
      'TWIN.NOT_FOUND',
    );
    expect((await inject(withKey({ method: 'GET', url: '/v1/search?q=x' }, search))).statusCode).toBe(200);
    expect((await inject(withKey({ method: 'DELETE', url: '/v1/twins/x' }, write))).statusCode).not.toBe(403);
  });

  it('lets an admin key do everything', async () => {
    const { t, inject, key } = await setup({ metricsAuth: true, docsAuth: true });
    const admin = await key(['admin']);
    expect((await inject(withKey(twin(), admin))).statusCode).toBe(202);
    await t.project();
    expect((await inject(withKey({ method: 'GET', url: '/v1/twins/lead-auth' }, admin))).statusCode).toBe(
      200,
    );
    expect(
      (await inject(withKey({ method: 'GET', url: '/v1/twins/lead-auth/versions' }, admin))).statusCode,
    ).toBe(200);
    expect((await inject(withKey({ method: 'GET', url: '/v1/search?q=x' }, admin))).statusCode).toBe(200);
    expect(
      (
        await inject(
          withKey(
            {
              method: 'POST',
              url: '/v1/twins:batch',
              payload: { items: [{ leadId: 'b1', markdown: '# b' }] },
            },
            admin,
          ),
        )
      ).statusCode,
    ).toBe(200);
    expect((await inject(withKey({ method: 'GET', url: '/metrics' }, admin))).statusCode).toBe(200);
    expect((await inject(withKey({ method: 'GET', url: '/docs/openapi.json' }, admin))).statusCode).toBe(200);
    expect((await inject(withKey({ method: 'DELETE', url: '/v1/twins/lead-auth' }, admin))).statusCode).toBe(
      202,
    );
  });

  it('keeps /healthz and /readyz open, even with a bad credential', async () => {
    const { inject } = await setup({ metricsAuth: true, docsAuth: true });
    expect((await inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await inject(withKey({ method: 'GET', url: '/healthz' }, 'garbage'))).statusCode).toBe(200);
  });

  it('leaves /metrics and /docs open by default', async () => {
    const { inject } = await setup();
    expect((await inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/docs/openapi.json' })).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/docs' })).statusCode).toBe(200);
  });

  it('closes /metrics and /docs when configured; then any valid key opens them', async () => {
    const { inject, key } = await setup({ metricsAuth: true, docsAuth: true });
    for (const url of ['/metrics', '/docs', '/docs/openapi.json']) {
      expectProblem(await inject({ method: 'GET', url }), 401, 'AUTH.UNAUTHENTICATED');
    }
    const search = await key(['search']);
    for (const url of ['/metrics', '/docs', '/docs/openapi.json']) {
      expect((await inject(withKey({ method: 'GET', url }, search))).statusCode).toBe(200);
    }
  });

  it('metrics closed but docs open (and the other way round)', async () => {
    const m = await setup({ metricsAuth: true, docsAuth: false });
    expect((await m.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await m.inject({ method: 'GET', url: '/docs/openapi.json' })).statusCode).toBe(200);
    const d = await setup({ metricsAuth: false, docsAuth: true });
    expect((await d.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect((await d.inject({ method: 'GET', url: '/docs/openapi.json' })).statusCode).toBe(401);
  });

  it('refuses a revoked key at once when the cache TTL is 0', async () => {
    const { t, inject, key } = await setup({ cacheTtlMs: 0 });
    const k = await key(['twins:write']);
    expect((await inject(withKey(twin(), k))).statusCode).toBe(202);
    await t.apiKeys.revoke(k.split('_')[1], new Date());
    const res = await inject(withKey(twin(), k));
    expectProblem(res, 401, 'AUTH.UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('trusts a verified key for the cache TTL (no storage read per request), then sees the revocation', async () => {
    const { t, inject, key } = await setup({ cacheTtlMs: 300 });
    const k = await key(['twins:write']);
    const reads = t.apiKeys.reads;
    for (let i = 0; i < 5; i++) expect((await inject(withKey(twin(), k))).statusCode).toBe(202);
    expect(t.apiKeys.reads - reads).toBe(1);
    await t.apiKeys.revoke(k.split('_')[1], new Date());
    expect((await inject(withKey(twin(), k))).statusCode).toBe(202); // within the TTL: documented lag
    await new Promise((r) => setTimeout(r, 350));
    expectProblem(await inject(withKey(twin(), k)), 401, 'AUTH.UNAUTHENTICATED');
  });

  it('answers 503 with Retry-After when the key store cannot be read, and retries it on the next request', async () => {
    const { t, inject, key } = await setup();
    const k = await key(['twins:write']);
    const get = t.apiKeys.get.bind(t.apiKeys);
    t.apiKeys.get = async () => {
      throw new Error('SQLITE_BUSY: database is locked');
    };
    const res = await inject(withKey(twin(), k));
    expectProblem(res, 503, 'HTTP.NOT_READY');
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body).not.toContain('SQLITE');
    t.apiKeys.get = get;
    expect((await inject(withKey(twin(), k))).statusCode).toBe(202);
  });

  it('records when a key was last used', async () => {
    const { t, inject, key } = await setup();
    const k = await key(['twins:write']);
    await inject(withKey(twin(), k));
    await new Promise((r) => setTimeout(r, 10));
    expect((await t.apiKeys.get(k.split('_')[1]))?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('never logs a key or its secret, accepted or refused', async () => {
    const { t, inject, key } = await setup({}, { logLevel: 'debug' });
    const good = await key(['twins:read']);
    const unknown = `tws_0123456789abcdef_${'Q'.repeat(43)}`;
    await inject(withKey(twin(), good)); // 403
    await inject(withKey({ method: 'GET', url: '/v1/twins/x' }, good, 'x-api-key')); // 404
    await inject(withKey(twin(), unknown)); // 401
    await inject(withKey(twin(), 'Secret-Garbage-Credential'));
    const text = t.logs.join('');
    expect(text).toContain('request completed');
    for (const secret of [good, good.split('_').slice(2).join('_'), unknown, 'Secret-Garbage-Credential']) {
      expect(text).not.toContain(secret);
    }
  });

  it('documents the schemes and, per operation, its scope with 401 and 403 in OpenAPI', async () => {
    const { inject } = await setup({ metricsAuth: true });
    const res = await inject({ method: 'GET', url: '/docs/openapi.json' });
    const doc = res.json<{
      components: { securitySchemes: Record<string, { type: string; scheme?: string; name?: string }> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    }>();
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', name: 'X-Api-Key' });
    const put = doc.paths['/v1/twins/{leadId}'].put;
    expect(put.security).toEqual([{ bearer: ['twins:write'] }, { apiKey: ['twins:write'] }]);
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['401', '403']));
    expect(doc.paths['/v1/twins/{leadId}'].get.security).toEqual([
      { bearer: ['twins:read'] },
      { apiKey: ['twins:read'] },
    ]);
    expect(doc.paths['/v1/search'].get.security).toEqual([{ bearer: ['search'] }, { apiKey: ['search'] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/healthz'].get.responses['401']).toBeUndefined();
    expect(doc.paths['/metrics'].get.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    expect(doc.paths['/metrics'].get.responses['403']).toBeUndefined();
  });

  it('requires admin on a matched route nobody listed (fail closed), and lets unmatched requests 404', async () => {
    expect(requirementOf('GET', '/v1/admin/thing', { metricsAuth: false, docsAuth: false })).toBe('admin');
    expect(requirementOf('GET', '/v1/twins/:leadId/images', { metricsAuth: false, docsAuth: false })).toBe(
      'twins:read',
    );
    expect(requirementOf('DELETE', '/v1/twins/:leadId', { metricsAuth: false, docsAuth: false })).toBe(
      'twins:write',
    );
    const { inject } = await setup();
    expectProblem(await inject({ method: 'GET', url: '/nope' }), 404, 'HTTP.NOT_FOUND');
  });
});

describe('principalOf and credentialOf', () => {
  let t: TestRuntime;

  async function bareServer() {
    t = createTestRuntime();
    const fastify = Fastify();
    registerAuth(fastify, t.runtime);
    fastify.get('/v1/search', async (req) => principalOf(req) ?? null);
    fastify.get('/healthz', async (req) => principalOf(req) ?? null);
    await fastify.ready();
    return fastify;
  }

  it('puts the caller on the request: key id, name and scopes; nothing on open routes', async () => {
    const fastify = await bareServer();
    const { key, record } = await issueApiKey(t.apiKeys, { name: 'lms-prod', scopes: ['search'] });
    const res = await fastify.inject({ method: 'GET', url: '/v1/search', headers: { 'x-api-key': key } });
    expect(res.json()).toEqual({ id: record.keyId, name: 'lms-prod', scopes: ['search'], kind: 'api-key' });
    const open = await fastify.inject({ method: 'GET', url: '/healthz', headers: { 'x-api-key': key } });
    expect(open.json()).toBeNull();
    await fastify.close();
  });

  it('reads Bearer first, then X-Api-Key; another scheme is an empty credential', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as never;
    expect(credentialOf(req({ authorization: 'Bearer abc', 'x-api-key': 'def' }))).toBe('abc');
    expect(credentialOf(req({ 'x-api-key': ' def ' }))).toBe('def');
    expect(credentialOf(req({ authorization: 'Basic dXNlcjpwYXNz' }))).toBe('');
    expect(credentialOf(req({}))).toBeUndefined();
  });
});

describe('failed authentications per client address', () => {
  const apps: NestFastifyApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('answers 429 with Retry-After once an address has failed too often; a good key is not charged', async () => {
    const t = createTestRuntime({ auth: { ...TEST_CONFIG.auth, failuresPerMinute: 30 } });
    const app = await createIngestApp(t.runtime, { logger: false });
    apps.push(app);
    const inject = (o: InjectOptions) => app.getHttpAdapter().getInstance().inject(o);
    const good = (await issueApiKey(t.apiKeys, { name: 'ok', scopes: ['admin'] })).key;
    // a valid key, many times: never charged
    for (let i = 0; i < 40; i++) expect((await inject(withKey(twin(), good))).statusCode).toBe(202);
    // burst of 10 (30 per minute / 3) failures answered 401, the next one 429
    const wrong = `${good.slice(0, -4)}AAAA`;
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await inject(withKey(twin(), wrong))).statusCode);
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(codes.slice(10)).toEqual([429, 429]);
    const limited = await inject(withKey(twin(), wrong));
    expectProblem(limited, 429, 'HTTP.RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // the address is blocked for every credential until it earns a token back (2 s at 30 per minute)
    expect((await inject(withKey(twin(), good))).statusCode).toBe(429);
    expect((await inject({ ...twin(), headers: { 'content-type': 'application/json' } })).statusCode).toBe(
      429,
    );
  });
});
