import fc from 'fast-check';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEAD_ID_PATTERN } from '@twinstore/domain';
import { bearer } from '../testing/api-keys';
import { rawRequest } from '../testing/ingest-api.contract';
import {
  expectProblemResponse,
  FuzzHarness,
  fuzzParams,
  LEAK_PATTERN,
  startFuzzHarness,
  validLeadIdArb,
} from './fuzz-harness';

/** The router's limit on one path parameter (createIngestApp); longer ones have their own (failing) property. */
const MAX_PARAM_LENGTH = 512;

/** Strings the domain must refuse as a leadId. */
const invalidLeadIdArb: fc.Arbitrary<string> = fc
  .oneof(
    // anything at all that the rule rejects
    fc.string({ unit: 'binary', minLength: 1, maxLength: 140 }),
    // almost valid: one bad character somewhere
    fc
      .tuple(
        validLeadIdArb,
        fc.constantFrom(
          '/',
          '\\',
          '.',
          '..',
          ' ',
          '\t',
          '\0',
          '%',
          '+',
          '?',
          '#',
          ':',
          ';',
          '@',
          '~',
          'é',
          'ß',
          'Ж',
          '中',
          '🙂',
          '\u200B',
          '\uFEFF',
          '\r\n',
          '"',
          "'",
          '<',
          '>',
          '*',
          '$',
          '&',
          '=',
          ',',
        ),
        fc.nat(),
      )
      .map(([id, bad, at]) => {
        const i = at % (id.length + 1);
        return id.slice(0, i) + bad + id.slice(i);
      }),
    // a valid-looking head or tail but too long
    fc
      .integer({ min: 129, max: 500 })
      .chain((n) =>
        fc
          .string({ unit: fc.constantFrom(...'abcXYZ019_-'.split('')), minLength: n, maxLength: n })
          .map((s) => `a${s}`),
      ),
    // starting with - or _
    fc.tuple(fc.constantFrom('-', '_'), validLeadIdArb).map(([p, id]) => (p + id).slice(0, 128)),
    fc.constantFrom('../etc/passwd', '..\\..\\windows', '/etc/passwd', 'a/b', '%2F', '%252F', 'null', '\0'),
  )
  .filter((s) => !LEAD_ID_PATTERN.test(s));

/** The URL path segment carrying `id`: percent-encoded, so it stays one segment. */
const segmentOf = (id: string) => encodeURIComponent(id);

const ROUTES = [
  { method: 'PUT', suffix: '', body: 'json' },
  { method: 'PUT', suffix: '', body: 'markdown' },
  { method: 'GET', suffix: '' },
  { method: 'GET', suffix: '?minVersion=01ARZ3NDEKTSV4RRFFQ69G5FAV' },
  { method: 'GET', suffix: '/metadata' },
  { method: 'GET', suffix: '/versions' },
  { method: 'DELETE', suffix: '' },
  { method: 'HEAD', suffix: '' },
] as const;

/**
 * Hostile input, property (4): invalid leadIds (encoded `/`, `..`, too long, Unicode, spaces, control
 * characters) are always a 400 (or, for a path that names no resource, 404) problem, on every route, and
 * nothing is written.
 */
describe('fuzz: invalid leadIds never reach a store', () => {
  let h: FuzzHarness;
  let url: string;
  beforeAll(async () => {
    h = await startFuzzHarness('lead-ids', { env: { TWINS_BODY_LIMIT_BYTES: String(64 * 1024) } });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(h.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('(4a) every route answers 400 TWIN.INVALID_LEAD_ID (404 when nothing is routed) and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        invalidLeadIdArb.filter((id) => {
          const seg = segmentOf(id);
          // `.` and `..` are dot segments the client-side URL parser resolves: the raw-socket property has them
          return seg !== '.' && seg !== '..' && seg.length <= MAX_PARAM_LENGTH;
        }),
        fc.constantFrom(...ROUTES),
        async (id, route) => {
          const r = { method: route.method, url: `/v1/twins/${segmentOf(id)}${route.suffix}` };
          const before = await h.snapshot();
          const res = await h.inject({
            method: r.method,
            url: r.url,
            ...('body' in route
              ? route.body === 'json'
                ? {
                    headers: { 'content-type': 'application/json' },
                    payload: JSON.stringify({ markdown: '# x' }),
                  }
                : { headers: { 'content-type': 'text/markdown' }, payload: '# x' }
              : {}),
          });
          const what = () =>
            `${JSON.stringify(id)} ${r.method} ${r.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
          const problem = expectProblemResponse(res, r, what);
          if (res.statusCode === 400) {
            if (problem) expect(problem.code, what()).toBe('TWIN.INVALID_LEAD_ID');
          } else {
            expect(res.statusCode, what()).toBe(404);
            if (problem) expect(problem.code, what()).toBe('HTTP.NOT_FOUND');
          }
          expect(await h.snapshot(), what()).toEqual(before);
        },
      ),
      fuzzParams(300),
    );
  });

  it('(4b) in a batch, each item with an invalid leadId is its own 400 result and nothing is written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(invalidLeadIdArb, { minLength: 1, maxLength: 5 }), async (ids) => {
        const before = await h.snapshot();
        const payload = JSON.stringify({ items: ids.map((leadId) => ({ leadId, markdown: '# x' })) });
        const res = await h.inject({
          method: 'POST',
          url: '/v1/twins:batch',
          headers: { 'content-type': 'application/json' },
          payload,
        });
        const what = () => `${payload.slice(0, 500)} -> ${res.statusCode} ${res.body.slice(0, 500)}`;
        expect(res.statusCode, what()).toBe(207);
        const { results } = res.json<{
          results: { index: number; status: number; version?: string; problem?: { code: string } }[];
        }>();
        expect(
          results.map((x) => x.status),
          what(),
        ).toEqual(ids.map(() => 400));
        expect(
          results.map((x) => x.problem?.code),
          what(),
        ).toEqual(ids.map(() => 'TWIN.INVALID_LEAD_ID'));
        expect(
          results.every((x) => x.version === undefined),
          what(),
        ).toBe(true);
        expect(await h.snapshot(), what()).toEqual(before);
      }),
      fuzzParams(150),
    );
  });

  /** Sent verbatim on a socket: dot segments, encoded dots and slashes, backslashes are not normalised away. */
  const rawSegmentArb = fc
    .oneof(
      fc.constantFrom(
        '.',
        '..',
        '%2e',
        '%2E%2E',
        '.%2e',
        '%2e.',
        '..%2F',
        '%2F..',
        '..%2F..%2Fetc%2Fpasswd',
        '..%5C..%5Cwindows',
        '%5C',
        '..;',
        '.%00',
        '%00',
        '%2f%2f',
        '%252e%252e',
        '...',

        '..%20',
      ),
      fc
        .array(fc.constantFrom('.', '..', '%2e', '%2F', '%5C', 'a', '-', '_', '%00', '%20'), {
          minLength: 1,
          maxLength: 8,
        })
        .map((parts) => parts.join('')),
    )
    .filter((seg) => {
      try {
        return !LEAD_ID_PATTERN.test(decodeURIComponent(seg));
      } catch {
        return false; // ill-formed escapes are covered by the router-level property
      }
    });

  it('(4c) raw paths with dot segments and encoded separators: 400 or 404 problem, nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(
        rawSegmentArb,
        fc.constantFrom('', '/metadata', '/versions'),
        fc.constantFrom('PUT', 'GET', 'DELETE'),
        async (seg, suffix, method) => {
          const path = `/v1/twins/${seg}${suffix}`;
          const before = await h.snapshot();
          const res =
            method === 'PUT'
              ? await rawRequest(url, method, path, JSON.stringify({ markdown: '# x' }), {
                  'content-type': 'application/json',
                  ...bearer(h.apiKey),
                })
              : await rawRequest(url, method, path, undefined, bearer(h.apiKey));
          const what = () => `${method} ${path} -> ${res.status} ${res.body.slice(0, 300)}`;
          expect([400, 404, 405], what()).toContain(res.status);
          expect(String(res.headers['content-type']), what()).toMatch(/^application\/problem\+json/);
          const body = JSON.parse(res.body) as { status: number; type: string; title: string; code: string };
          expect(body.status, what()).toBe(res.status);
          expect(body.type, what()).toMatch(/^https:\/\/twinstore\.dev\/problems\//);
          if (res.status === 400) expect(body.code, what()).toBe('TWIN.INVALID_LEAD_ID');
          expect(res.body.replace(path, ''), what()).not.toMatch(LEAK_PATTERN);
          expect(await h.snapshot(), what()).toEqual(before);
        },
      ),
      fuzzParams(100),
    );
  });
});
