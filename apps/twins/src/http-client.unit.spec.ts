import { describe, expect, it } from 'vitest';
import { BATCH_MAX_ITEMS, RetryInfo, TwinsHttpClient, TwinsHttpError } from './http-client';

interface Call {
  url: string;
  init: RequestInit;
}

/** A scripted fetch: each call takes the next answer (a Response or an error to throw). */
function scripted(answers: (Response | Error | (() => Response))[]) {
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const retries: RetryInfo[] = [];
  const fetchFn = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const next = answers.shift();
    if (!next) throw new Error('no scripted answer left');
    if (next instanceof Error) throw next;
    return typeof next === 'function' ? next() : next;
  }) as typeof fetch;
  const client = (extra: Partial<ConstructorParameters<typeof TwinsHttpClient>[0]> = {}) =>
    new TwinsHttpClient({
      baseUrl: 'http://api.test/',
      fetch: fetchFn,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      onRetry: (info) => retries.push(info),
      ...extra,
    });
  return { calls, sleeps, retries, client };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const accepted = (leadId = 'lead-1', version = '01JZ0000000000000000000000') =>
  json(
    202,
    { leadId, version, status: 'accepted' },
    { etag: `"${version}"`, location: `/v1/twins/${leadId}` },
  );
const headerOf = (call: Call, name: string) => new Headers(call.init.headers).get(name);

describe('TwinsHttpClient', () => {
  it('PUTs JSON with a bearer key and an idempotency key, and returns the version', async () => {
    const s = scripted([accepted()]);
    const res = await s
      .client({ apiKey: 'secret' })
      .putTwin('lead-1', { markdown: '# A', metadata: { age: 30 } });
    expect(res).toMatchObject({ leadId: 'lead-1', version: '01JZ0000000000000000000000', attempts: 1 });
    expect(res.location).toBe('/v1/twins/lead-1');
    const [call] = s.calls;
    expect(call.url).toBe('http://api.test/v1/twins/lead-1');
    expect(call.init.method).toBe('PUT');
    expect(JSON.parse(String(call.init.body))).toEqual({ markdown: '# A', metadata: { age: 30 } });
    expect(headerOf(call, 'authorization')).toBe('Bearer secret');
    expect(headerOf(call, 'content-type')).toBe('application/json');
    expect(headerOf(call, 'idempotency-key')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends no Authorization header without a key', async () => {
    const s = scripted([accepted()]);
    await s.client().putTwin('lead-1', { markdown: 'x', metadata: {} });
    expect(headerOf(s.calls[0], 'authorization')).toBeNull();
  });

  it('retries network errors, 429 and 503 with the same idempotency key', async () => {
    const s = scripted([
      new TypeError('fetch failed'),
      json(429, { title: 'slow down' }, { 'retry-after': '2' }),
      json(503, { title: 'busy' }),
      accepted(),
    ]);
    const res = await s.client({ baseDelayMs: 100 }).putTwin('lead-1', { markdown: 'x', metadata: {} });
    expect(res.attempts).toBe(4);
    const keys = s.calls.map((c) => headerOf(c, 'idempotency-key'));
    expect(new Set(keys).size).toBe(1);
    // network error: backoff step 100 with equal jitter; 429: Retry-After 2 s plus up to 10%; 503: step 400
    expect(s.sleeps).toEqual([75, 2100, 300]);
    expect(s.retries.map((r) => r.reason)).toEqual(['fetch failed', 429, 503]);
  });

  it('waits out a 409 in-flight answer to a request with an Idempotency-Key (its first attempt still runs)', async () => {
    const s = scripted([json(409, { code: 'IDEMPOTENCY.IN_FLIGHT' }, { 'retry-after': '1' }), accepted()]);
    const res = await s.client().putTwin('lead-1', { markdown: 'x', metadata: {} });
    expect(res.attempts).toBe(2);
    expect(s.sleeps).toEqual([1050]);
    expect(new Set(s.calls.map((c) => headerOf(c, 'idempotency-key'))).size).toBe(1);
  });

  it('does not retry a 409 without Retry-After (a real conflict)', async () => {
    const s = scripted([json(409, { title: 'conflict' })]);
    await expect(s.client().putTwin('lead-1', { markdown: 'x', metadata: {} })).rejects.toMatchObject({
      status: 409,
      attempts: 1,
    });
  });

  it('honours an HTTP-date Retry-After and caps every wait', async () => {
    const later = new Date(Date.now() + 60_000).toUTCString();
    const s = scripted([json(503, {}, { 'retry-after': later }), accepted()]);
    await s.client({ maxDelayMs: 5000 }).putTwin('lead-1', { markdown: 'x', metadata: {} });
    expect(s.sleeps).toEqual([5000]);
  });

  it('gives up after maxAttempts: the last status is thrown, or the last network error', async () => {
    const busy = scripted([
      json(503, { title: 'busy' }),
      json(503, { title: 'busy' }),
      json(503, { title: 'busy' }),
    ]);
    const err = await busy
      .client({ maxAttempts: 3 })
      .putTwin('lead-1', { markdown: 'x', metadata: {} })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwinsHttpError);
    expect(err).toMatchObject({ status: 503, attempts: 3 });
    expect(busy.calls).toHaveLength(3);

    const down = scripted([new TypeError('fetch failed'), new TypeError('fetch failed')]);
    await expect(down.client({ maxAttempts: 2 }).getTwin('lead-1')).rejects.toThrow('fetch failed');
    expect(down.calls).toHaveLength(2);
  });

  it('does not retry other errors and exposes the problem details', async () => {
    const s = scripted([
      json(
        400,
        { type: 'urn:twinstore:TWIN.INVALID_METADATA', title: 'metadata is invalid', detail: 'age: too big' },
        { 'content-type': 'application/problem+json' },
      ),
    ]);
    const err = (await s
      .client()
      .putTwin('lead-1', { markdown: 'x', metadata: { age: 999 } })
      .catch((e: unknown) => e)) as TwinsHttpError;
    expect(err).toBeInstanceOf(TwinsHttpError);
    expect(err.status).toBe(400);
    expect(err.problem?.type).toBe('urn:twinstore:TWIN.INVALID_METADATA');
    expect(err.message).toContain('400 metadata is invalid: age: too big');
    expect(s.calls).toHaveLength(1);
  });

  it('GETs the exact bytes with minVersion and the version from the ETag', async () => {
    const bytes = Buffer.from('# Zoë 🙂\r\nline\r\n', 'utf8');
    const s = scripted([
      new Response(bytes, { status: 200, headers: { etag: 'W/"01JZABC"', 'x-twin-tier': 'hot' } }),
    ]);
    const got = await s.client().getTwin('lead-1', { minVersion: '01JZABC' });
    expect(got.body.equals(bytes)).toBe(true);
    expect(got.version).toBe('01JZABC');
    expect(got.tier).toBe('hot');
    expect(s.calls[0].url).toBe('http://api.test/v1/twins/lead-1?minVersion=01JZABC');
    expect(s.calls[0].init.method).toBe('GET');
  });

  it('encodes search parameters, lists as comma lists', async () => {
    const s = scripted([json(200, { total: 1, hits: [{ leadId: 'a', version: 'v' }], facets: {} })]);
    const res = await s.client().search({
      q: 'term life',
      classification: ['hot', 'warm'],
      minIncome: 50_000,
      tags: ['family', 'smsf'],
      top: 5,
      location: undefined,
    });
    expect(res).toEqual({ total: 1, hits: [{ leadId: 'a', version: 'v' }], facets: {} });
    const url = new URL(s.calls[0].url);
    expect(url.pathname).toBe('/v1/search');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      q: 'term life',
      classification: 'hot,warm',
      minIncome: '50000',
      tags: 'family,smsf',
      top: '5',
    });
  });

  it('deletes, reporting whether there was anything to erase', async () => {
    const s = scripted([new Response(null, { status: 204 }), json(404, { title: 'not found' })]);
    expect(await s.client().deleteTwin('lead-1')).toBe(true);
    expect(await s.client().deleteTwin('lead-2')).toBe(false);
    expect(s.calls.map((c) => c.init.method)).toEqual(['DELETE', 'DELETE']);
  });

  it('posts batches and maps one result per item', async () => {
    const s = scripted([
      json(200, {
        results: [
          { leadId: 'a', status: 202, version: 'v1' },
          { index: 1, leadId: 'b', status: 400, problem: { title: 'metadata is invalid' } },
        ],
      }),
    ]);
    const items = [
      { leadId: 'a', markdown: 'x', metadata: {} },
      { leadId: 'b', markdown: 'y', metadata: { age: -1 } },
    ];
    const results = await s.client().batch(items);
    expect(results).toEqual([
      { leadId: 'a', status: 202, version: 'v1', problem: undefined },
      { leadId: 'b', status: 400, version: undefined, problem: { title: 'metadata is invalid' } },
    ]);
    expect(s.calls[0].url).toBe('http://api.test/v1/twins:batch');
    expect(JSON.parse(String(s.calls[0].init.body))).toEqual({ items });
    expect(headerOf(s.calls[0], 'idempotency-key')).toBeTruthy();
  });

  it('refuses oversized batches before sending and rejects answers without one result per item', async () => {
    const s = scripted([json(200, { results: [] })]);
    const many = Array.from({ length: BATCH_MAX_ITEMS + 1 }, (_, i) => ({
      leadId: `l${i}`,
      markdown: '',
      metadata: {},
    }));
    await expect(s.client().batch(many)).rejects.toThrow(RangeError);
    expect(s.calls).toHaveLength(0);
    await expect(s.client().batch(many.slice(0, 2))).rejects.toThrow('one result per item');
  });
});
