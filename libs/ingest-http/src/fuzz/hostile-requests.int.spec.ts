import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EXTRA_DEPTH } from '@twinstore/domain';
import { anyRequestArb, FuzzRequest } from './arbitraries';
import {
  describeRequest,
  expectProblemResponse,
  expectSafeResponse,
  FuzzHarness,
  fuzzParams,
  startFuzzHarness,
} from './fuzz-harness';

/**
 * Hostile input, properties (1) and (2): any method, path, headers and body (huge headers, invalid UTF-8, wrong
 * or missing content types, random and deeply nested JSON, prototype-pollution keys) never yields a 5xx; every
 * 4xx is an `application/problem+json` with `type`, `title`, `status` that leaks no stack, path or SQL; and a
 * 4xx writes nothing to the real stores (blobs, bus backlog, catalog, index).
 */
describe('fuzz: hostile requests against the embedded runtime', () => {
  let h: FuzzHarness;
  beforeAll(async () => {
    h = await startFuzzHarness('hostile', {
      env: { TWINS_BODY_LIMIT_BYTES: String(64 * 1024), TWINS_BATCH_MAX_ITEMS: '5' },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const send = (r: FuzzRequest) =>
    h.inject({ method: r.method as 'GET', url: r.url, headers: r.headers, payload: r.payload });
  const context = (r: FuzzRequest, res: { statusCode: number; body: string }) => () =>
    `${describeRequest(r)} -> ${res.statusCode} ${res.body.slice(0, 300)}\nserver log: ${h
      .takeErrorLogs()
      .join('')
      .slice(0, 1500)}`;
  const expectNoPollution = () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
    expect(Object.getOwnPropertyNames(Array.prototype)).not.toContain('polluted');
  };

  it('(1) never answers 5xx; every 4xx is a problem+json with type, title, status and no internals', async () => {
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        const res = await send(r);
        expectSafeResponse(res, r, context(r, res));
        expectNoPollution();
      }),
      fuzzParams(400),
    );
  });

  it('(2) a 4xx writes nothing: no blob, no event, no catalog or index row', async () => {
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        const before = await h.snapshot();
        const res = await send(r);
        expectSafeResponse(res, r, context(r, res));
        if (res.statusCode >= 400) expect(await h.snapshot(), context(r, res)()).toEqual(before);
      }),
      fuzzParams(300),
    );
  });

  // Regression: metadata nested ~2300-2700 deep passed JSON.parse but overflowed the stack in the recursive
  // zod schema of `extra` -> 500 (PUT) or a 500 item (batch). Fixed by bounding the depth (MAX_EXTRA_DEPTH).
  it('(1b) metadata nested at any depth is 202 or a 400 problem, in PUT metadata, extra, front matter and batch items alike', async () => {
    const shape = fc.constantFrom('array', 'object');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 1, max: MAX_EXTRA_DEPTH + 2 }),
          fc.integer({ min: 2000, max: 3000 }),
          fc.integer({ min: 1, max: 10_000 }),
        ),
        shape,
        fc.constantFrom('put', 'batch', 'extra', 'front-matter'),
        async (anyDepth, kind, where) => {
          // YAML nested thousands deep can abort the whole process (see process-survival, 7a): front matter
          // stays below the yaml parser's stack limit here, deep enough to cross MAX_EXTRA_DEPTH
          const depth = where === 'front-matter' ? Math.min(anyDepth, 600) : anyDepth;
          const nested =
            kind === 'array'
              ? '['.repeat(depth) + ']'.repeat(depth)
              : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
          const json = (payload: string): FuzzRequest => ({
            method: where === 'batch' ? 'POST' : 'PUT',
            url: where === 'batch' ? '/v1/twins:batch' : '/v1/twins/deep-put',
            headers: { 'content-type': 'application/json' },
            payload,
          });
          const r: FuzzRequest =
            where === 'batch'
              ? json(`{"items":[{"leadId":"deep-batch","markdown":"x","metadata":{"deep":${nested}}}]}`)
              : where === 'put'
                ? json(`{"markdown":"x","metadata":{"deep":${nested}}}`)
                : where === 'extra'
                  ? json(`{"markdown":"x","metadata":{"extra":{"deep":${nested}}}}`)
                  : {
                      method: 'PUT',
                      url: '/v1/twins/deep-fm',
                      headers: { 'content-type': 'text/markdown' },
                      payload: `---\ndeep: ${nested}\n---\n# x\n`,
                    };
          const res = await send(r);
          expectSafeResponse(res, r, context(r, res));
          // a batch answers 207 with a result per item: the item's status is the twin's
          const status =
            where === 'batch' && res.statusCode < 300
              ? res.json<{ results: { status: number }[] }>().results[0].status
              : res.statusCode;
          // the bound is part of the contract: up to MAX_EXTRA_DEPTH levels is accepted, deeper is a 400
          expect(status, context(r, res)()).toBe(depth <= MAX_EXTRA_DEPTH ? 202 : 400);
        },
      ),
      fuzzParams(120),
    );
  });

  // Fastify's router answers an ill-formed percent-escape in the path (FST_ERR_BAD_URL) and a path parameter
  // longer than maxParamLength (FST_ERR_MAX_PARAM_LENGTH) itself; createIngestApp's frameworkErrors makes
  // those problems too.
  it('(1c) router-level errors (ill-formed %-escapes, a path parameter over 512 chars) are problems too', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom('%', '%G1', '%FF', '%C0%AF', '%ED%A0%80', '%F4%90%80%80', '%E2%82', 'a%2', '%%'),
          fc.integer({ min: 513, max: 2000 }).map((n) => 'L'.repeat(n)),
        ),
        fc.constantFrom('GET', 'PUT', 'DELETE'),
        fc.constantFrom('', 'a', 'lead-'),
        async (bad, method, prefix) => {
          const r: FuzzRequest = { method, url: `/v1/twins/${prefix}${bad}`, headers: {} };
          const res = await send(r);
          expectProblemResponse(res, r, context(r, res));
        },
      ),
      fuzzParams(50),
    );
  });
});
