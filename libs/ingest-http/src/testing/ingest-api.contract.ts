import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TwinsRuntime } from '@twinstore/platform';
import { describeIdempotencyContract } from './idempotency.contract';

/**
 * The HTTP contract of the ingest API, run against any runtime: the in-memory test doubles (unit) and the
 * real embedded runtime (integration). Expects `bodyLimitBytes` 65536 and `batchMaxItems` 5.
 */
export interface IngestApiHarness {
  runtime: TwinsRuntime;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Base URL of the same app listening on a real socket (for requests inject would normalise). */
  url: string;
  /** An admin API key; `inject` sends it unless the request names a credential of its own. */
  apiKey: string;
  /** Anything the stores hold; two equal snapshots mean nothing was written in between. */
  snapshot(): Promise<unknown>;
  /** Let the projections (catalog and pointer, search index) catch up with everything published. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export const CONTRACT_BODY_LIMIT = 64 * 1024;
export const CONTRACT_BATCH_MAX = 5;

const newLeadId = (prefix = 'lead') => `${prefix}-${randomUUID()}`;
const json = (res: LightMyRequestResponse) => JSON.parse(res.body) as Record<string, unknown>;

/** RFC 9457 shape, our extensions, and nothing that looks like an internal detail. */
export function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = json(res);
  expect(body).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String) });
  expect(body.type).toMatch(/^https:\/\/twinstore\.dev\/problems\/[a-z-]+$/);
  expect(typeof body.instance).toBe('string');
  expect(res.body).not.toMatch(/\bat .+:\d+:\d+|node_modules|SQLITE|SELECT |INSERT |\/tmp\/|\\\\/);
  return body as { errors?: { path: string; message: string }[]; [k: string]: unknown };
}

/** A raw HTTP request, path sent exactly as given (no URL normalisation of `..` or `%2E`). */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function describeIngestApiContract(name: string, setup: () => Promise<IngestApiHarness>): void {
  describe(name, () => {
    let h: IngestApiHarness;
    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await h?.close();
    });

    const put = (leadId: string, payload: unknown, headers: Record<string, string> = {}) =>
      h.inject({
        method: 'PUT',
        url: `/v1/twins/${leadId}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
      });
    const putMarkdown = (leadId: string, markdown: Buffer | string) =>
      h.inject({
        method: 'PUT',
        url: `/v1/twins/${leadId}`,
        headers: { 'content-type': 'text/markdown; charset=utf-8' },
        payload: markdown,
      });
    const get = (url: string, headers: Record<string, string> = {}) =>
      h.inject({ method: 'GET', url, headers });
    const batch = (payload: unknown, headers: Record<string, string> = {}) =>
      h.inject({
        method: 'POST',
        url: '/v1/twins:batch',
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    /** Runs `act` and asserts the stores are exactly as before. */
    const expectNothingWritten = async (act: () => Promise<void>) => {
      await h.settle(); // earlier tests' projections must not count as this test's writes
      const before = await h.snapshot();
      await act();
      await h.settle();
      expect(await h.snapshot()).toEqual(before);
    };

    describe('PUT /v1/twins/:leadId', () => {
      it('accepts JSON and answers 202 with the version, ETag and Location', async () => {
        const leadId = newLeadId();
        const res = await put(leadId, { markdown: '# Ada\n', metadata: { age: 36, classification: 'hot' } });
        expect(res.statusCode).toBe(202);
        const body = json(res);
        expect(body).toEqual({
          leadId,
          version: expect.stringMatching(/^[0-9A-Z]{26}$/),
          status: 'accepted',
        });
        expect(res.headers.etag).toBe(`"${body.version}"`);
        expect(res.headers.location).toBe(`/v1/twins/${leadId}?minVersion=${body.version}`);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
      });

      it('stores text/markdown byte for byte (front matter, CRLF, emoji) and serves it back', async () => {
        const leadId = newLeadId();
        const markdown = Buffer.from(
          '---\r\nage: 41\r\nclassification: hot\r\ntags: [VIP, Berlin]\r\nlocation: Berlin\r\n---\r\n' +
            '# Jürgen 🧑‍🚀\r\n\r\nLikes ☕ and 🚲.\r\nNo trailing newline',
          'utf8',
        );
        const saved = await putMarkdown(leadId, markdown);
        expect(saved.statusCode).toBe(202);
        const { version } = json(saved);

        // read-your-writes: before any projection caught up
        const early = await get(`/v1/twins/${leadId}?minVersion=${version}`);
        expect(early.statusCode).toBe(200);
        expect(early.rawPayload.equals(markdown)).toBe(true);

        await h.settle();
        const res = await get(`/v1/twins/${leadId}`);
        expect(res.statusCode).toBe(200);
        expect(res.rawPayload.equals(markdown)).toBe(true);
        expect(res.headers['content-type']).toBe('text/markdown; charset=utf-8');
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['cache-control']).toBe('private, no-cache');
        expect(res.headers.etag).toBe(`"${version}"`);
        expect(res.headers['x-twin-version']).toBe(version);
        expect(res.headers['x-twin-tier']).toBe('hot');
        expect(res.headers['x-cache']).toMatch(/^(hit|miss)$/);
        const again = await get(`/v1/twins/${leadId}`);
        expect(again.headers['x-cache']).toBe('hit');
        expect(again.rawPayload.equals(markdown)).toBe(true);

        const meta = await get(`/v1/twins/${leadId}/metadata`);
        expect(meta.statusCode).toBe(200);
        expect(json(meta)).toMatchObject({
          leadId,
          version,
          size: markdown.length,
          metadata: { age: 41, classification: 'hot', location: 'Berlin', tags: ['vip', 'berlin'] },
        });
      });

      it('round-trips a JSON markdown string exactly (CRLF and emoji become the same UTF-8 bytes)', async () => {
        const leadId = newLeadId();
        const markdown = 'line one\r\nline two 👩🏽‍💻\n\ttabbed — “quotes”';
        const saved = await put(leadId, { markdown, metadata: { tags: ['a'] } });
        const res = await get(`/v1/twins/${leadId}?minVersion=${json(saved).version}`);
        expect(res.statusCode).toBe(200);
        expect(res.rawPayload.equals(Buffer.from(markdown, 'utf8'))).toBe(true);
      });

      it.each([
        ['an encoded slash', 'a%2Fb'],
        ['a lone encoded slash', '%2F'],
        ['a leading dash', '-abc'],
        ['a dot', 'a.b'],
        ['129 characters', 'x'.repeat(129)],
        ['a non-ASCII letter', 'caf%C3%A9'],
        ['a space', 'a%20b'],
      ])('refuses a leadId with %s: 400, nothing written', async (_label, leadId) => {
        await expectNothingWritten(async () => {
          const res = await put(leadId, { markdown: '# x', metadata: {} });
          expectProblem(res, 400, 'TWIN.INVALID_LEAD_ID');
        });
      });

      it('accepts a leadId of exactly 128 characters', async () => {
        const res = await put('A'.repeat(64) + randomUUID().replace(/-/g, '').padEnd(64, '0'), {
          markdown: '# x',
        });
        expect(res.statusCode).toBe(202);
      });

      it.each([['/v1/twins/'], ['/v1/twins//metadata']])(
        'refuses an empty leadId segment (%s): 400, nothing written',
        async (url) => {
          await expectNothingWritten(async () => {
            const res = await h.inject({
              method: url.endsWith('metadata') ? 'GET' : 'PUT',
              url,
              headers: { 'content-type': 'application/json' },
              payload: JSON.stringify({ markdown: '# x' }),
            });
            expectProblem(res, 400, 'TWIN.INVALID_LEAD_ID');
          });
        },
      );

      it.each([['/v1/twins/..'], ['/v1/twins/%2E%2E'], ['/v1/twins/.'], ['/v1/twins/..%2F..%2Fetc']])(
        'refuses the path %s sent verbatim: 400, nothing written',
        async (path) => {
          await expectNothingWritten(async () => {
            const res = await rawRequest(h.url, 'PUT', path, JSON.stringify({ markdown: '# x' }), {
              'content-type': 'application/json',
              authorization: `Bearer ${h.apiKey}`,
            });
            expect(res.status).toBe(400);
            expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
            expect(JSON.parse(res.body)).toMatchObject({ code: 'TWIN.INVALID_LEAD_ID', status: 400 });
          });
        },
      );

      it.each([
        ['malformed JSON', '{"markdown": "x",', 'HTTP.MALFORMED_BODY'],
        ['an empty JSON body', '', 'HTTP.MALFORMED_BODY'],
        [
          'a __proto__ key',
          '{"markdown":"x","metadata":{"__proto__":{"admin":true}}}',
          'HTTP.MALFORMED_BODY',
        ],
        ['a JSON array', '[1,2]', 'TWIN.INVALID_DOCUMENT'],
        ['unknown fields', '{"markdown":"x","colour":"red"}', 'TWIN.INVALID_DOCUMENT'],
        ['markdown not a string', '{"markdown":42}', 'TWIN.INVALID_DOCUMENT'],
        ['a missing markdown', '{"metadata":{}}', 'TWIN.INVALID_DOCUMENT'],
        ['metadata not an object', '{"markdown":"x","metadata":[1]}', 'TWIN.INVALID_METADATA'],
      ])('refuses %s: 400 problem, nothing written', async (_label, payload, code) => {
        await expectNothingWritten(async () => {
          expectProblem(await put(newLeadId(), payload), 400, code);
        });
      });

      it('lists every invalid metadata field, without echoing the values', async () => {
        await expectNothingWritten(async () => {
          const res = await put(newLeadId(), {
            markdown: '# x',
            metadata: { age: -4, income: 'lots', classification: 'lukewarm', tags: ['ok', ''] },
          });
          const problem = expectProblem(res, 400, 'TWIN.INVALID_METADATA');
          const paths = problem.errors!.map((e) => e.path);
          expect(paths).toEqual(
            expect.arrayContaining(['metadata.age', 'metadata.income', 'metadata.classification']),
          );
          expect(paths.some((p) => p.startsWith('metadata.tags'))).toBe(true);
          expect(res.body).not.toContain('lukewarm');
          expect(res.body).not.toContain('lots');
        });
      });

      it.each([
        ['invalid YAML front matter', '---\nage: [unclosed\n---\n# x', 'TWIN.INVALID_DOCUMENT'],
        ['invalid front matter metadata', '---\nage: old\n---\n# x', 'TWIN.INVALID_METADATA'],
        ['invalid UTF-8', Buffer.from([0x23, 0x20, 0xff, 0xfe, 0x0a]), 'TWIN.INVALID_DOCUMENT'],
      ])('refuses markdown with %s: 400, nothing written', async (_label, body, code) => {
        await expectNothingWritten(async () => {
          expectProblem(await putMarkdown(newLeadId(), body), 400, code);
        });
      });

      it.each([
        ['text/plain', 'text/plain'],
        ['application/xml', 'application/xml'],
        ['form data', 'application/x-www-form-urlencoded'],
        ['a non-UTF-8 charset', 'text/markdown; charset=iso-8859-1'],
      ])('refuses %s with 415, nothing written', async (_label, contentType) => {
        await expectNothingWritten(async () => {
          const res = await h.inject({
            method: 'PUT',
            url: `/v1/twins/${newLeadId()}`,
            headers: { 'content-type': contentType },
            payload: '# hello',
          });
          expectProblem(res, 415, 'HTTP.UNSUPPORTED_MEDIA_TYPE');
        });
      });

      it('refuses a PUT without a body and content type with 415', async () => {
        await expectNothingWritten(async () => {
          const res = await h.inject({ method: 'PUT', url: `/v1/twins/${newLeadId()}` });
          expectProblem(res, 415, 'HTTP.UNSUPPORTED_MEDIA_TYPE');
        });
      });

      it.each([
        ['JSON', 'application/json', JSON.stringify({ markdown: 'x'.repeat(CONTRACT_BODY_LIMIT) })],
        ['markdown', 'text/markdown', '#'.repeat(CONTRACT_BODY_LIMIT + 1)],
      ])(
        'refuses a %s body over the limit with 413, nothing written',
        async (_label, contentType, payload) => {
          await expectNothingWritten(async () => {
            const res = await h.inject({
              method: 'PUT',
              url: `/v1/twins/${newLeadId()}`,
              headers: { 'content-type': contentType },
              payload,
            });
            const problem = expectProblem(res, 413, 'HTTP.CONTENT_TOO_LARGE');
            expect(problem.detail).toContain(String(CONTRACT_BODY_LIMIT));
          });
        },
      );

      it('accepts a markdown body of exactly the limit', async () => {
        const res = await putMarkdown(newLeadId(), '#'.repeat(CONTRACT_BODY_LIMIT));
        expect(res.statusCode).toBe(202);
      });
    });

    describe('GET /v1/twins/:leadId', () => {
      it('answers 404 problem for an unknown twin', async () => {
        expectProblem(await get(`/v1/twins/${newLeadId()}`), 404, 'TWIN.NOT_FOUND');
      });

      it('answers 304 to a matching If-None-Match, 200 otherwise', async () => {
        const leadId = newLeadId();
        const { version } = json(await put(leadId, { markdown: '# cached' }));
        await h.settle();
        const etag = `"${version}"`;
        const notModified = await get(`/v1/twins/${leadId}`, { 'if-none-match': etag });
        expect(notModified.statusCode).toBe(304);
        expect(notModified.body).toBe('');
        expect(notModified.headers.etag).toBe(etag);
        const weakInList = await get(`/v1/twins/${leadId}`, { 'if-none-match': `"other", W/${etag}` });
        expect(weakInList.statusCode).toBe(304);
        const changed = await get(`/v1/twins/${leadId}`, { 'if-none-match': '"01ARZ3NDEKTSV4RRFFQ69G5FAV"' });
        expect(changed.statusCode).toBe(200);
        expect(changed.body).toBe('# cached');
      });

      it('refuses an invalid minVersion with 400', async () => {
        const leadId = newLeadId();
        await put(leadId, { markdown: '# x' });
        expectProblem(await get(`/v1/twins/${leadId}?minVersion=yesterday`), 400, 'TWIN.INVALID_VERSION');
      });

      it('answers 404 for a minVersion newer than anything stored', async () => {
        const leadId = newLeadId();
        await put(leadId, { markdown: '# x' });
        await h.settle();
        expectProblem(
          await get(`/v1/twins/${leadId}?minVersion=7ZZZZZZZZZZZZZZZZZZZZZZZZZ`),
          404,
          'TWIN.NOT_FOUND',
        );
      });

      it.each([['a%2Fb'], ['x'.repeat(129)], ['-x']])('refuses the leadId %s with 400', async (leadId) => {
        expectProblem(await get(`/v1/twins/${leadId}`), 400, 'TWIN.INVALID_LEAD_ID');
        expectProblem(await get(`/v1/twins/${leadId}/metadata`), 400, 'TWIN.INVALID_LEAD_ID');
        expectProblem(await get(`/v1/twins/${leadId}/versions`), 400, 'TWIN.INVALID_LEAD_ID');
      });
    });

    describe('GET /v1/twins/:leadId/metadata and /versions', () => {
      it('serves the record and the history, newest version first', async () => {
        const leadId = newLeadId();
        await put(leadId, { markdown: '# one', metadata: { income: 52000, tags: ['Alpha'] } });
        const second = json(await put(leadId, { markdown: '# two', metadata: { income: 53000 } }));
        await h.settle();
        const meta = await get(`/v1/twins/${leadId}/metadata`);
        expect(meta.statusCode).toBe(200);
        expect(meta.headers.etag).toBe(`"${second.version}"`);
        expect(json(meta)).toMatchObject({
          leadId,
          version: second.version,
          size: 5,
          contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
          savedAt: expect.any(String),
          metadata: { income: 53000, classification: 'warm', tags: [], extra: {} },
        });
        const versions = await get(`/v1/twins/${leadId}/versions`);
        expect(versions.statusCode).toBe(200);
        const body = json(versions) as { leadId: string; versions: { version: string }[] };
        expect(body.leadId).toBe(leadId);
        expect(body.versions.length).toBeGreaterThanOrEqual(1);
        expect(body.versions[0].version).toBe(second.version);
      });

      it('answers 404 problems for an unknown twin', async () => {
        const leadId = newLeadId();
        expectProblem(await get(`/v1/twins/${leadId}/metadata`), 404, 'TWIN.NOT_FOUND');
        expectProblem(await get(`/v1/twins/${leadId}/versions`), 404, 'TWIN.NOT_FOUND');
      });
    });

    describe('DELETE /v1/twins/:leadId', () => {
      it('erases the twin: 202, then 404 everywhere', async () => {
        const leadId = newLeadId();
        await put(leadId, { markdown: '# to be erased', metadata: { location: 'Oslo' } });
        await h.settle();
        const res = await h.inject({ method: 'DELETE', url: `/v1/twins/${leadId}` });
        expect(res.statusCode).toBe(202);
        expect(json(res)).toEqual({
          leadId,
          version: expect.stringMatching(/^[0-9A-Z]{26}$/),
          status: 'deleted',
        });
        expectProblem(await get(`/v1/twins/${leadId}`), 404, 'TWIN.NOT_FOUND');
        await h.settle();
        expectProblem(await get(`/v1/twins/${leadId}/metadata`), 404, 'TWIN.NOT_FOUND');
        expectProblem(await get(`/v1/twins/${leadId}/versions`), 404, 'TWIN.NOT_FOUND');
      });

      it('answers 404 for an unknown twin and 400 for a bad leadId, writing nothing', async () => {
        await expectNothingWritten(async () => {
          expectProblem(
            await h.inject({ method: 'DELETE', url: `/v1/twins/${newLeadId()}` }),
            404,
            'TWIN.NOT_FOUND',
          );
          expectProblem(
            await h.inject({ method: 'DELETE', url: '/v1/twins/a%2Fb' }),
            400,
            'TWIN.INVALID_LEAD_ID',
          );
        });
      });
    });

    describe('POST /v1/twins:batch', () => {
      it('saves every item and answers 200 when all are accepted', async () => {
        const items = [newLeadId(), newLeadId(), newLeadId()].map((leadId, i) => ({
          leadId,
          markdown: `# twin ${i}\r\n✓`,
          metadata: { age: 20 + i },
        }));
        const res = await batch({ items });
        expect(res.statusCode).toBe(200);
        const { results } = json(res) as { results: Record<string, unknown>[] };
        expect(results).toHaveLength(3);
        results.forEach((r, i) =>
          expect(r).toEqual({ index: i, leadId: items[i].leadId, status: 202, version: expect.any(String) }),
        );
        await h.settle();
        for (const item of items) {
          const twin = await get(`/v1/twins/${item.leadId}`);
          expect(twin.statusCode).toBe(200);
          expect(twin.body).toBe(item.markdown);
        }
      });

      it('answers 207 with a result per item; invalid items do not prevent valid ones', async () => {
        const good1 = newLeadId('good');
        const good2 = newLeadId('good');
        const badMeta = newLeadId('badmeta');
        const items = [
          { leadId: good1, markdown: '# good one', metadata: { classification: 'cold' } },
          { leadId: '../etc/passwd', markdown: '# bad id' },
          { leadId: badMeta, markdown: '# bad metadata', metadata: { age: 'old' } },
          'not an object',
          { leadId: good2, markdown: '# good two' },
          { leadId: newLeadId(), markdown: 7 },
        ];
        const res = await batch({ items: items.slice(0, 4) });
        expect(res.statusCode).toBe(207);
        const more = await batch({ items: items.slice(4) });
        expect(more.statusCode).toBe(207);
        const results = [
          ...(json(res).results as Record<string, unknown>[]),
          ...(json(more).results as Record<string, unknown>[]),
        ];
        expect(results.map((r) => r.status)).toEqual([202, 400, 400, 400, 202, 400]);
        expect(results[0]).toMatchObject({ leadId: good1, version: expect.any(String) });
        expect(results[1]).toMatchObject({
          leadId: '../etc/passwd',
          problem: { status: 400, code: 'TWIN.INVALID_LEAD_ID', type: expect.stringContaining('/problems/') },
        });
        expect(results[1].version).toBeUndefined();
        expect(results[2]).toMatchObject({
          leadId: badMeta,
          problem: {
            code: 'TWIN.INVALID_METADATA',
            errors: [expect.objectContaining({ path: 'metadata.age' })],
          },
        });
        expect(results[3]).toMatchObject({
          index: 3,
          leadId: null,
          problem: { code: 'TWIN.INVALID_DOCUMENT' },
        });
        await h.settle();
        expect((await get(`/v1/twins/${good1}`)).body).toBe('# good one');
        expect((await get(`/v1/twins/${good2}`)).body).toBe('# good two');
        expectProblem(await get(`/v1/twins/${badMeta}`), 404, 'TWIN.NOT_FOUND');
      });

      it('saves items of the same lead in request order: the last one wins', async () => {
        const leadId = newLeadId();
        const res = await batch({
          items: ['# first', '# second', '# third'].map((markdown) => ({ leadId, markdown })),
        });
        expect(res.statusCode).toBe(200);
        const versions = (json(res).results as { version: string }[]).map((r) => r.version);
        expect([...versions].sort()).toEqual(versions);
        await h.settle();
        expect((await get(`/v1/twins/${leadId}`)).body).toBe('# third');
      });

      it(`refuses more than ${CONTRACT_BATCH_MAX} items with 413, writing nothing`, async () => {
        await expectNothingWritten(async () => {
          const items = Array.from({ length: CONTRACT_BATCH_MAX + 1 }, () => ({
            leadId: newLeadId(),
            markdown: '# x',
          }));
          const problem = expectProblem(await batch({ items }), 413, 'BATCH.TOO_MANY_ITEMS');
          expect(problem.detail).toContain(String(CONTRACT_BATCH_MAX));
        });
      });

      it('accepts a batch larger than the single-twin body limit; an oversized item is its own 413', async () => {
        const big = 'x'.repeat(CONTRACT_BODY_LIMIT - 1024);
        const items = [newLeadId(), newLeadId(), newLeadId()].map((leadId) => ({ leadId, markdown: big }));
        const tooBig = { leadId: newLeadId(), markdown: 'y'.repeat(CONTRACT_BODY_LIMIT + 1) };
        const res = await batch({ items: [...items, tooBig] });
        expect(res.statusCode).toBe(207);
        const results = json(res).results as { status: number; problem?: { code: string } }[];
        expect(results.map((r) => r.status)).toEqual([202, 202, 202, 413]);
        expect(results[3].problem?.code).toBe('HTTP.CONTENT_TOO_LARGE');
      });

      it.each([
        ['malformed JSON', '{"items": [', 'HTTP.MALFORMED_BODY'],
        ['a body without items', '{"twins": []}', 'BATCH.INVALID_REQUEST'],
        ['items not an array', '{"items": {}}', 'BATCH.INVALID_REQUEST'],
        ['a JSON array body', '[]', 'BATCH.INVALID_REQUEST'],
      ])('refuses %s with 400, writing nothing', async (_label, payload, code) => {
        await expectNothingWritten(async () => {
          expectProblem(await batch(payload), 400, code);
        });
      });

      it('refuses a non-JSON batch with 415', async () => {
        await expectNothingWritten(async () => {
          const res = await h.inject({
            method: 'POST',
            url: '/v1/twins:batch',
            headers: { 'content-type': 'text/markdown' },
            payload: '# not a batch',
          });
          expectProblem(res, 415, 'HTTP.UNSUPPORTED_MEDIA_TYPE');
        });
      });

      it('is routed on the literal colon path only', async () => {
        const wrongMethod = await get('/v1/twins:batch');
        expectProblem(wrongMethod, 405, 'HTTP.METHOD_NOT_ALLOWED');
        expect(wrongMethod.headers.allow).toBe('POST');
        const slash = await h.inject({ method: 'POST', url: '/v1/twins/batch', payload: { items: [] } });
        expectProblem(slash, 405, 'HTTP.METHOD_NOT_ALLOWED');
        const empty = await batch({ items: [] });
        expect(empty.statusCode).toBe(200);
        expect(json(empty)).toEqual({ results: [] });
      });
    });

    describeIdempotencyContract(() => h);

    describe('GET /v1/search', () => {
      it('answers { total, hits, facets } for valid parameters', async () => {
        const res = await get(
          '/v1/search?q=ada&classification=hot,warm&minIncome=0&maxIncome=90000&minAge=18&maxAge=99' +
            '&location=Berlin&tags=vip&top=10&skip=0&facets=classification,tags',
        );
        expect(res.statusCode).toBe(200);
        expect(json(res)).toMatchObject({
          total: expect.any(Number),
          hits: expect.any(Array),
          facets: expect.any(Object),
        });
      });

      it('refuses unknown and invalid parameters with 400, listing each', async () => {
        const res = await get(
          '/v1/search?q=x&colour=red&top=0&minAge=old&classification=lukewarm&facets=age',
        );
        const problem = expectProblem(res, 400, 'SEARCH.INVALID_QUERY');
        const text = JSON.stringify(problem.errors);
        for (const name of ['colour', 'top', 'minAge', 'classification', 'facets'])
          expect(text).toContain(name);
        expect(problem.errors!.length).toBeGreaterThanOrEqual(5);
      });

      it.each([['top=101'], ['skip=-1'], ['maxIncome=-5'], ['minAge=1.5'], [`q=${'a'.repeat(600)}`]])(
        'refuses %s',
        async (query) => {
          expectProblem(await get(`/v1/search?${query}`), 400, 'SEARCH.INVALID_QUERY');
        },
      );
    });

    describe('operations', () => {
      it('GET /healthz answers ok without touching dependencies', async () => {
        const res = await get('/healthz');
        expect(res.statusCode).toBe(200);
        expect(json(res)).toEqual({ status: 'ok' });
      });

      it('GET /readyz answers 200 with every dependency check', async () => {
        const res = await get('/readyz');
        expect(res.statusCode).toBe(200);
        const body = json(res) as { status: string; checks: { name: string; ok: boolean }[] };
        expect(body.status).toBe('ok');
        expect(body.checks.length).toBeGreaterThan(0);
        expect(body.checks.every((c) => c.ok)).toBe(true);
      });

      it('GET /metrics exposes the HTTP request counter and duration histogram', async () => {
        await put(newLeadId(), { markdown: '# counted' });
        await get(`/v1/twins/${newLeadId()}`);
        const res = await get('/metrics');
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        const lines = res.body.split('\n');
        const has = (metric: string, labels: string[]) =>
          lines.some((l) => l.startsWith(metric) && labels.every((label) => l.includes(label)));
        expect(
          has('twins_http_requests_total{', ['method="PUT"', 'route="/v1/twins/:leadId"', 'status="202"']),
        ).toBe(true);
        expect(
          has('twins_http_requests_total{', ['method="GET"', 'route="/v1/twins/:leadId"', 'status="404"']),
        ).toBe(true);
        expect(
          has('twins_http_request_duration_seconds_bucket{', ['route="/v1/twins/:leadId"', 'le="0.1"']),
        ).toBe(true);
        expect(has('twins_http_request_duration_seconds_count{', ['method="PUT"'])).toBe(true);
        // the route label is the pattern, never the URL
        expect(res.body).not.toMatch(/route="\/v1\/twins\/lead-/);
      });

      it('GET /docs/openapi.json is an OpenAPI 3 document listing every route', async () => {
        const res = await get('/docs/openapi.json');
        expect(res.statusCode).toBe(200);
        const doc = json(res) as {
          openapi: string;
          info: { title: string; version: string };
          paths: Record<
            string,
            Record<string, { operationId?: string; responses?: Record<string, unknown> }>
          >;
          components: { schemas: Record<string, unknown> };
        };
        expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
        expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
        const expected: [string, string[]][] = [
          ['/v1/twins/{leadId}', ['put', 'get', 'delete']],
          ['/v1/twins/{leadId}/metadata', ['get']],
          ['/v1/twins/{leadId}/versions', ['get']],
          ['/v1/twins:batch', ['post']],
          ['/v1/search', ['get']],
          ['/v1/rehydrations/{jobId}', ['get']],
          ['/healthz', ['get']],
          ['/readyz', ['get']],
          ['/metrics', ['get']],
          ['/docs/openapi.json', ['get']],
          ['/docs', ['get']],
        ];
        expect(Object.keys(doc.paths).sort()).toEqual(expected.map(([p]) => p).sort());
        const operationIds = new Set<string>();
        for (const [path, methods] of expected) {
          expect(
            Object.keys(doc.paths[path])
              .filter((k) => k !== 'parameters')
              .sort(),
          ).toEqual([...methods].sort());
          for (const method of methods) {
            const op = doc.paths[path][method];
            expect(op.operationId, `${method} ${path}`).toEqual(expect.any(String));
            expect(operationIds.has(op.operationId!)).toBe(false);
            operationIds.add(op.operationId!);
            expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
          }
        }
        for (const [, ref] of res.body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
          expect(doc.components.schemas, ref).toHaveProperty(ref);
        }
        const params = JSON.stringify(doc.paths['/v1/search'].get);
        for (const name of [
          'q',
          'classification',
          'minIncome',
          'maxIncome',
          'minAge',
          'maxAge',
          'location',
          'tags',
          'top',
          'skip',
          'facets',
        ]) {
          expect(params).toContain(`"name":"${name}"`);
        }
      });

      it('GET /docs is an HTML page linking the document', async () => {
        const res = await get('/docs');
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.body).toContain('/docs/openapi.json');
        expect(res.body).toContain('/v1/twins:batch');
      });

      it('answers unknown routes with a 404 problem and wrong methods with 405 + Allow', async () => {
        expectProblem(await get('/v2/nothing'), 404, 'HTTP.NOT_FOUND');
        expectProblem(await get(`/v1/twins/${newLeadId()}/images`), 404, 'HTTP.NOT_FOUND');
        const res = await h.inject({ method: 'PATCH', url: `/v1/twins/${newLeadId()}` });
        expectProblem(res, 405, 'HTTP.METHOD_NOT_ALLOWED');
        expect(res.headers.allow).toBe('DELETE, GET, HEAD, PUT');
        const post = await h.inject({ method: 'POST', url: '/healthz' });
        expectProblem(post, 405, 'HTTP.METHOD_NOT_ALLOWED');
      });

      it('echoes a plain X-Request-Id and replaces one that is not', async () => {
        const kept = await get('/healthz', { 'x-request-id': 'lms-42.abc' });
        expect(kept.headers['x-request-id']).toBe('lms-42.abc');
        const replaced = await get('/healthz', { 'x-request-id': 'bad id\u0007{"x":1}' });
        expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      });
    });
  });
}
