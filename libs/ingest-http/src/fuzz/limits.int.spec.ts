import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEARCH_LIMITS } from '@twinstore/application';
import { MAX_METADATA_BYTES } from '@twinstore/domain';
import { BATCH_BODY_LIMIT_FACTOR } from '../ingest-api';
import { expectProblemResponse, FuzzHarness, fuzzParams, startFuzzHarness } from './fuzz-harness';

/** Exactly `bytes` bytes of UTF-8 mixing 1-, 2- and 4-byte characters, so bytes and characters differ. */
function utf8OfSize(bytes: number, seed: number): string {
  const units = ['a', 'é', '🙂', '\r\n', '-'];
  let out = '';
  let size = 0;
  for (let i = seed; size < bytes; i++) {
    const u = units[i % units.length];
    const n = Buffer.byteLength(u);
    if (size + n > bytes) {
      out += 'a'.repeat(bytes - size);
      break;
    }
    out += u;
    size += n;
  }
  return out;
}

/**
 * Hostile input, property (6): the limits the app defines, read from its configuration (the shipped defaults
 * here: TWINS_BODY_LIMIT_BYTES, TWINS_BATCH_MAX_ITEMS), the batch body factor, the search limits and the
 * metadata size, each probed just below and just above, and nothing written when refused.
 */
describe('fuzz: request limits at their boundaries (default configuration)', () => {
  let h: FuzzHarness;
  let bodyLimit: number;
  let batchMax: number;
  beforeAll(async () => {
    h = await startFuzzHarness('limits');
    bodyLimit = h.runtime.config.bodyLimitBytes;
    batchMax = h.runtime.config.batchMaxItems;
  });
  afterAll(async () => {
    await h?.close();
  });

  const put = (leadId: string, contentType: string, payload: string | Buffer) =>
    h.inject({
      method: 'PUT',
      url: `/v1/twins/${leadId}`,
      headers: { 'content-type': contentType },
      payload,
    });
  const batch = (payload: string) =>
    h.inject({
      method: 'POST',
      url: '/v1/twins:batch',
      headers: { 'content-type': 'application/json' },
      payload,
    });
  const refusedWithoutWrite = async (
    act: () => Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>,
    r: { method: string; url: string },
    status: number,
    code: string,
  ) => {
    const before = await h.snapshot();
    const res = await act();
    const what = () => `${r.method} ${r.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    expect(res.statusCode, what()).toBe(status);
    const problem = expectProblemResponse(res as never, r, what);
    expect(problem?.code, what()).toBe(code);
    expect(await h.snapshot(), what()).toEqual(before);
    return problem!;
  };

  it('(6a) a PUT body over bodyLimitBytes is 413 (JSON and markdown, counted in bytes), nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 64 * 1024 })),
        fc.constantFrom('text/markdown', 'application/json'),
        fc.nat(4),
        async (over, type, seed) => {
          const size = bodyLimit + over;
          const payload =
            type === 'text/markdown'
              ? Buffer.from(utf8OfSize(size, seed), 'utf8')
              : Buffer.from(`{"markdown":"${utf8OfSize(size - 15, seed).replace(/\r\n/g, 'ab')}"}`, 'utf8');
          expect(payload.length).toBe(size);
          const problem = await refusedWithoutWrite(
            () => put('limit-over', type, payload),
            { method: 'PUT', url: '/v1/twins/limit-over' },
            413,
            'HTTP.CONTENT_TOO_LARGE',
          );
          expect(problem.detail).toContain(String(bodyLimit));
        },
      ),
      fuzzParams(12),
    );
  });

  it('(6b) a markdown body of up to bodyLimitBytes is accepted and stored whole', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4096 })),
        fc.nat(4),
        async (under, seed) => {
          const payload = Buffer.from(utf8OfSize(bodyLimit - under, seed), 'utf8');
          const res = await put('limit-under', 'text/markdown', payload);
          expect(res.statusCode, res.body).toBe(202);
          const { version } = res.json<{ version: string }>();
          const back = await h.inject({ method: 'GET', url: `/v1/twins/limit-under?minVersion=${version}` });
          expect(back.statusCode).toBe(200);
          const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
          expect(back.rawPayload.length).toBe(payload.length);
          expect(sha(back.rawPayload)).toBe(sha(payload));
        },
      ),
      fuzzParams(4),
    );
  });

  const items = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => ({ leadId: `${prefix}-${i}`, markdown: `# ${i}` }));

  it('(6c) a batch of more than batchMaxItems items is 413 BATCH.TOO_MANY_ITEMS, nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 500 })), async (over) => {
        const problem = await refusedWithoutWrite(
          () => batch(JSON.stringify({ items: items(batchMax + over, 'over') })),
          { method: 'POST', url: '/v1/twins:batch' },
          413,
          'BATCH.TOO_MANY_ITEMS',
        );
        expect(problem.detail).toContain(String(batchMax));
      }),
      fuzzParams(10),
    );
  });

  it('(6d) a batch of exactly batchMaxItems items is accepted, one result each', async () => {
    const res = await batch(JSON.stringify({ items: items(batchMax, 'max') }));
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const { results } = res.json<{ results: { status: number }[] }>();
    expect(results).toHaveLength(batchMax);
    expect(results.every((r) => r.status === 202)).toBe(true);
  });

  it('(6e) a batch body over bodyLimitBytes x BATCH_BODY_LIMIT_FACTOR is 413, nothing written', async () => {
    const batchLimit = Math.min(bodyLimit * BATCH_BODY_LIMIT_FACTOR, 1024 * 1024 * 1024);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1024 }), async (over) => {
        const head = '{"items":[{"leadId":"big","markdown":"';
        const tail = '"}]}';
        const payload = head + 'x'.repeat(batchLimit + over - head.length - tail.length) + tail;
        expect(payload.length).toBe(batchLimit + over);
        await refusedWithoutWrite(
          () => batch(payload),
          { method: 'POST', url: '/v1/twins:batch' },
          413,
          'HTTP.CONTENT_TOO_LARGE',
        );
      }),
      fuzzParams(2),
    );
  });

  it('(6f) in a batch, an item whose markdown is over bodyLimitBytes is its own 413; the others are saved', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2048 }), fc.nat(4), async (over, seed) => {
        const big = utf8OfSize(bodyLimit + over, seed);
        const res = await batch(
          JSON.stringify({
            items: [
              { leadId: 'ok-1', markdown: '# ok' },
              { leadId: 'too-big', markdown: big },
            ],
          }),
        );
        expect(res.statusCode, res.body.slice(0, 300)).toBe(207);
        const { results } = res.json<{ results: { status: number; problem?: { code: string } }[] }>();
        expect(results.map((r) => r.status)).toEqual([202, 413]);
        expect(results[1].problem?.code).toBe('HTTP.CONTENT_TOO_LARGE');
        const gone = await h.inject({ method: 'GET', url: '/v1/twins/too-big/versions' });
        expect(gone.statusCode).toBe(404);
      }),
      fuzzParams(3),
    );
  });

  it(`(6g) metadata serialising over ${MAX_METADATA_BYTES} bytes is 400 TWIN.INVALID_METADATA, nothing written`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8192 }),
        fc.constantFrom('json', 'front-matter'),
        async (over, form) => {
          // the normalised record adds classification, tags and extra around the note: well over the limit
          const note = 'n'.repeat(MAX_METADATA_BYTES + over);
          await refusedWithoutWrite(
            () =>
              form === 'json'
                ? put('meta-big', 'application/json', JSON.stringify({ markdown: '# x', metadata: { note } }))
                : put('meta-big', 'text/markdown', `---\nnote: ${note}\n---\n# x\n`),
            { method: 'PUT', url: '/v1/twins/meta-big' },
            400,
            'TWIN.INVALID_METADATA',
          );
        },
      ),
      fuzzParams(10),
    );
  });

  const search = (qs: string) => h.inject({ method: 'GET', url: `/v1/search?${qs}` });
  const expectInvalidQuery = (res: Awaited<ReturnType<typeof search>>, qs: string, param: string) => {
    const what = () => `?${qs.slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    const problem = expectProblemResponse(res, { method: 'GET', url: `/v1/search?${qs}` }, what);
    expect(res.statusCode, what()).toBe(400);
    expect(problem?.code, what()).toBe('SEARCH.INVALID_QUERY');
    expect(
      problem?.errors?.map((e) => e.path),
      what(),
    ).toContain(param);
  };

  it(`(6h) q: up to ${SEARCH_LIMITS.maxQueryLength} characters is 200, longer is 400`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -500, max: 20_000 })),
        fc.constantFrom('a', 'é', '"', '*'),
        async (delta, unit) => {
          const n = Math.max(0, SEARCH_LIMITS.maxQueryLength + delta);
          const qs = `q=${encodeURIComponent(unit.repeat(n))}`;
          const res = await search(qs);
          if (n <= SEARCH_LIMITS.maxQueryLength) expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
          else expectInvalidQuery(res, qs, 'q');
        },
      ),
      fuzzParams(60),
    );
  });

  it(`(6i) top 1..${SEARCH_LIMITS.maxTop} and skip 0..${SEARCH_LIMITS.maxSkip} are 200; anything else is 400`, async () => {
    const numberText = fc.oneof(
      fc.integer({ min: -3, max: SEARCH_LIMITS.maxTop + 3 }).map(String),
      fc.integer({ min: SEARCH_LIMITS.maxSkip - 3, max: SEARCH_LIMITS.maxSkip + 3 }).map(String),
      fc.constantFrom(
        '1e9',
        '1e308',
        '1e400',
        '99999999999999999999',
        '-99999999999999999999',
        '2.5',
        'NaN',
        'abc',
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('top', 'skip'), numberText, async (name, value) => {
        const qs = `${name}=${encodeURIComponent(value)}`;
        const res = await search(qs);
        const n = Number(value);
        const [min, max] = name === 'top' ? [1, SEARCH_LIMITS.maxTop] : [0, SEARCH_LIMITS.maxSkip];
        if (Number.isInteger(n) && n >= min && n <= max) expect(res.statusCode, qs).toBe(200);
        else expectInvalidQuery(res, qs, name);
      }),
      fuzzParams(80),
    );
  });

  it(`(6j) up to ${SEARCH_LIMITS.maxTags} tags is 200, more is 400`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: SEARCH_LIMITS.maxTags * 3 }), async (n) => {
        const qs = `tags=${Array.from({ length: n }, (_, i) => `t${i}`).join(',')}`;
        const res = await search(qs);
        if (n <= SEARCH_LIMITS.maxTags) expect(res.statusCode, qs).toBe(200);
        else expectInvalidQuery(res, qs, 'tags');
      }),
      fuzzParams(30),
    );
  });
});
