import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { TwinEvent } from '@twinstore/contracts';
import type { TwinsRuntime } from '@twinstore/platform';
import type { IngestApiHarness } from './ingest-api.contract';

const newLeadId = () => `idem-${randomUUID()}`;
const newKey = () => `key-${randomUUID()}`;
const json = (res: LightMyRequestResponse) => JSON.parse(res.body) as Record<string, unknown>;

function expectProblemCode(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(json(res)).toMatchObject({ status, code });
}

/**
 * Counts what the save path does for one lead, on any runtime: day-blob writes (not the pointer the writer
 * projection keeps) and twin.saved.v1 events. Optionally holds each day-blob write for `delayMs`, so a second
 * request can arrive while the first is in flight.
 */
function spyOnSaves(
  runtime: TwinsRuntime,
  leadId: string,
  options: { delayMs?: number; failOnce?: boolean } = {},
) {
  const content = runtime.content as Pick<TwinsRuntime['content'], 'put' | 'putMany'>;
  const publisher = runtime.publisher as { publish: TwinsRuntime['publisher']['publish'] };
  const put = content.put.bind(runtime.content);
  const publish = publisher.publish.bind(runtime.publisher);
  const counts = { blobWrites: 0, events: 0 };
  let failOnce = options.failOnce ?? false;
  content.put = async (path, body, putOptions) => {
    if (!path.startsWith('digital-twins/metadata/') && path.endsWith(`/${leadId}.md`)) {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (failOnce) {
        failOnce = false;
        throw new Error('injected blob store failure');
      }
      // Counted once written: a create refused because the day-blob exists (create-first) wrote nothing.
      const written = await put(path, body, putOptions);
      counts.blobWrites++;
      return written;
    }
    return put(path, body, putOptions);
  };
  if (content.putMany) {
    // A group goes through the spied put() item by item, so it is counted (and held or failed) the same way.
    content.putMany = (items) =>
      Promise.all(items.map((i) => content.put(i.path, i.body, i.options).catch((e: unknown) => e as Error)));
  }
  publisher.publish = async (events: TwinEvent[]) => {
    counts.events += events.filter((e) => e.type === 'twin.saved.v1' && e.subject === leadId).length;
    return publish(events);
  };
  return {
    counts,
    restore() {
      delete (content as Partial<typeof content>).put;
      delete (content as Partial<typeof content>).putMany;
      delete (publisher as Partial<typeof publisher>).publish;
    },
  };
}

/**
 * Exactly-once effect over HTTP (ARCHITECTURE decision 3): Idempotency-Key on PUT and on the batch, If-Match
 * on PUT. Part of the shared suite, so it runs on the in-memory doubles and on the real embedded runtime.
 */
export function describeIdempotencyContract(harness: () => IngestApiHarness): void {
  const put = (leadId: string, payload: unknown, headers: Record<string, string> = {}) =>
    harness().inject({
      method: 'PUT',
      url: `/v1/twins/${leadId}`,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const batch = (payload: unknown, headers: Record<string, string> = {}) =>
    harness().inject({
      method: 'POST',
      url: '/v1/twins:batch',
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(payload),
    });
  const expectNothingWritten = async (act: () => Promise<void>) => {
    const h = harness();
    await h.settle();
    const before = await h.snapshot();
    await act();
    await h.settle();
    expect(await h.snapshot()).toEqual(before);
  };
  const versionOf = (res: LightMyRequestResponse) => json(res).version as string;

  describe('Idempotency-Key on PUT /v1/twins/:leadId', () => {
    it('the same key and body return the first answer: same version and body, one blob write, one event', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const spy = spyOnSaves(harness().runtime, leadId);
      try {
        const doc = { markdown: '# Once\n', metadata: { age: 40 } };
        const first = await put(leadId, doc, { 'idempotency-key': key });
        expect(first.statusCode).toBe(202);
        expect(first.headers['idempotent-replayed']).toBeUndefined();
        // The same JSON, spelled with other whitespace, is the same request.
        const again = await put(leadId, JSON.stringify(doc, null, 2), { 'idempotency-key': key });
        const third = await put(leadId, doc, { 'idempotency-key': `"${key}"` }); // the structured-field form
        for (const replay of [again, third]) {
          expect(replay.statusCode).toBe(202);
          expect(replay.headers['idempotent-replayed']).toBe('true');
          expect(json(replay)).toEqual(json(first));
          expect(replay.headers.etag).toBe(first.headers.etag);
          expect(replay.headers.location).toBe(first.headers.location);
          expect(replay.headers['content-type']).toMatch(/^application\/json/);
        }
        expect(spy.counts).toEqual({ blobWrites: 1, events: 1 });
        // Without a key, the same body is a new version.
        const unkeyed = await put(leadId, doc);
        expect(versionOf(unkeyed) > versionOf(first)).toBe(true);
        expect(spy.counts).toEqual({ blobWrites: 2, events: 2 });
      } finally {
        spy.restore();
      }
    });

    it('a replay writes nothing at all', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const first = await put(leadId, { markdown: '# replayed' }, { 'idempotency-key': key });
      await expectNothingWritten(async () => {
        const replay = await put(leadId, { markdown: '# replayed' }, { 'idempotency-key': key });
        expect(versionOf(replay)).toBe(versionOf(first));
      });
    });

    it('the same key with another body is refused with 422, writing nothing', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const first = await put(leadId, { markdown: '# one' }, { 'idempotency-key': key });
      expect(first.statusCode).toBe(202);
      await expectNothingWritten(async () => {
        expectProblemCode(
          await put(leadId, { markdown: '# two' }, { 'idempotency-key': key }),
          422,
          'IDEMPOTENCY.KEY_REUSED',
        );
        // the same text as markdown instead of JSON is another request too
        const asMarkdown = await harness().inject({
          method: 'PUT',
          url: `/v1/twins/${leadId}`,
          headers: { 'content-type': 'text/markdown', 'idempotency-key': key },
          payload: '# one',
        });
        expectProblemCode(asMarkdown, 422, 'IDEMPOTENCY.KEY_REUSED');
      });
      const twin = await harness().inject({
        method: 'GET',
        url: `/v1/twins/${leadId}?minVersion=${versionOf(first)}`,
      });
      expect(twin.body).toBe('# one');
    });

    it('a key is scoped to its resource: the same key on another lead is a new request', async () => {
      const key = newKey();
      const a = await put(newLeadId(), { markdown: '# same' }, { 'idempotency-key': key });
      const b = await put(newLeadId(), { markdown: '# same' }, { 'idempotency-key': key });
      expect(a.statusCode).toBe(202);
      expect(b.statusCode).toBe(202);
      expect(b.headers['idempotent-replayed']).toBeUndefined();
      expect(versionOf(b)).not.toBe(versionOf(a));
    });

    it('concurrent requests with one key: one runs, the others get 409 with Retry-After; a later retry the answer', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const spy = spyOnSaves(harness().runtime, leadId, { delayMs: 300 });
      try {
        const answers = await Promise.all(
          Array.from({ length: 4 }, () => put(leadId, { markdown: '# racing' }, { 'idempotency-key': key })),
        );
        const accepted = answers.filter((r) => r.statusCode === 202);
        const busy = answers.filter((r) => r.statusCode === 409);
        expect(accepted).toHaveLength(1);
        expect(busy).toHaveLength(3);
        for (const res of busy) {
          expectProblemCode(res, 409, 'IDEMPOTENCY.IN_FLIGHT');
          expect(res.headers['retry-after']).toBe('1');
        }
        const retry = await put(leadId, { markdown: '# racing' }, { 'idempotency-key': key });
        expect(retry.statusCode).toBe(202);
        expect(versionOf(retry)).toBe(versionOf(accepted[0]));
        expect(spy.counts).toEqual({ blobWrites: 1, events: 1 });
      } finally {
        spy.restore();
      }
    });

    it('a failed request is not remembered: the retry with the same key runs again', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const spy = spyOnSaves(harness().runtime, leadId, { failOnce: true });
      try {
        const failed = await put(leadId, { markdown: '# flaky' }, { 'idempotency-key': key });
        expectProblemCode(failed, 500, 'HTTP.INTERNAL');
        const retry = await put(leadId, { markdown: '# flaky' }, { 'idempotency-key': key });
        expect(retry.statusCode).toBe(202);
        expect(retry.headers['idempotent-replayed']).toBeUndefined();
        expect(spy.counts).toEqual({ blobWrites: 1, events: 1 });
      } finally {
        spy.restore();
      }
    });

    it.each([
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['a non-ASCII character', 'cl\u00e9'],
      ['a tab', 'a\tb'],
    ])('refuses a key that is %s with 400, writing nothing', async (_label, key) => {
      await expectNothingWritten(async () => {
        expectProblemCode(
          await put(newLeadId(), { markdown: '# x' }, { 'idempotency-key': key }),
          400,
          'IDEMPOTENCY.INVALID_KEY',
        );
      });
    });

    it('accepts a key of 255 printable characters', async () => {
      const key = `${randomUUID()}-${' !#$%&()*+,./:;<=>?@[]^_`{|}~'}`.padEnd(255, 'x');
      const leadId = newLeadId();
      const first = await put(leadId, { markdown: '# long key' }, { 'idempotency-key': key });
      expect(first.statusCode).toBe(202);
      const again = await put(leadId, { markdown: '# long key' }, { 'idempotency-key': key });
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(versionOf(again)).toBe(versionOf(first));
    });

    it('a bad request under a key is refused before the key is used: the corrected request then runs', async () => {
      const leadId = newLeadId();
      const key = newKey();
      expectProblemCode(
        await put(leadId, { markdown: '# x', metadata: { age: 'old' } }, { 'idempotency-key': key }),
        400,
        'TWIN.INVALID_METADATA',
      );
      const fixed = await put(leadId, { markdown: '# x', metadata: { age: 50 } }, { 'idempotency-key': key });
      expect(fixed.statusCode).toBe(202);
    });
  });

  describe('If-Match on PUT /v1/twins/:leadId', () => {
    it('saves when If-Match names the current version, before and after the projections caught up', async () => {
      const leadId = newLeadId();
      const v1 = versionOf(await put(leadId, { markdown: '# v1' }));
      // at once: the catalog has not seen v1 yet, the day-blob has
      const second = await put(leadId, { markdown: '# v2' }, { 'if-match': `"${v1}"` });
      expect(second.statusCode).toBe(202);
      await harness().settle();
      const third = await put(
        leadId,
        { markdown: '# v3' },
        { 'if-match': `"01ARZ3NDEKTSV4RRFFQ69G5FAV", ${second.headers.etag}` },
      );
      expect(third.statusCode).toBe(202);
      expect(versionOf(third) > versionOf(second)).toBe(true);
    });

    it('refuses a stale If-Match with 412 and the current ETag, writing nothing', async () => {
      const leadId = newLeadId();
      const v1 = versionOf(await put(leadId, { markdown: '# v1' }));
      const v2 = versionOf(await put(leadId, { markdown: '# v2' }));
      for (const settled of [false, true]) {
        if (settled) await harness().settle();
        await expectNothingWritten(async () => {
          const res = await put(leadId, { markdown: '# lost update' }, { 'if-match': `"${v1}"` });
          expectProblemCode(res, 412, 'TWIN.VERSION_CONFLICT');
          expect(res.headers.etag).toBe(`"${v2}"`);
          // a weak tag never matches (strong comparison), a tag that is no version neither
          expectProblemCode(
            await put(leadId, { markdown: '# x' }, { 'if-match': `W/"${v2}"` }),
            412,
            'TWIN.VERSION_CONFLICT',
          );
          expectProblemCode(
            await put(leadId, { markdown: '# x' }, { 'if-match': '"nope"' }),
            412,
            'TWIN.VERSION_CONFLICT',
          );
        });
      }
      const twin = await harness().inject({ method: 'GET', url: `/v1/twins/${leadId}` });
      expect(twin.body).toBe('# v2');
    });

    it('two concurrent saves with the same If-Match: one 202, the other 412 (no lost update)', async () => {
      const leadId = newLeadId();
      const v1 = versionOf(await put(leadId, { markdown: '# v1' }));
      // Both pass the check before either writes; the day-blob's etag condition makes the second write fail,
      // and its re-check then sees the first one's version.
      const spy = spyOnSaves(harness().runtime, leadId, { delayMs: 150 });
      try {
        const answers = await Promise.all(
          ['# from A', '# from B'].map((markdown) => put(leadId, { markdown }, { 'if-match': `"${v1}"` })),
        );
        expect(answers.map((r) => r.statusCode).sort()).toEqual([202, 412]);
        const winner = answers.find((r) => r.statusCode === 202)!;
        const loser = answers.find((r) => r.statusCode === 412)!;
        expect(loser.headers.etag).toBe(winner.headers.etag);
        expect(spy.counts.events).toBe(1);
      } finally {
        spy.restore();
      }
    });

    it('If-Match: * saves over an existing twin only; on a twin that does not exist it is 412', async () => {
      const leadId = newLeadId();
      await expectNothingWritten(async () => {
        const missing = await put(leadId, { markdown: '# x' }, { 'if-match': '*' });
        expectProblemCode(missing, 412, 'TWIN.VERSION_CONFLICT');
        expect(missing.headers.etag).toBeUndefined();
        const named = await put(leadId, { markdown: '# x' }, { 'if-match': '"01ARZ3NDEKTSV4RRFFQ69G5FAV"' });
        expectProblemCode(named, 412, 'TWIN.VERSION_CONFLICT');
      });
      expect((await put(leadId, { markdown: '# created' })).statusCode).toBe(202);
      expect((await put(leadId, { markdown: '# updated' }, { 'if-match': '*' })).statusCode).toBe(202);
    });

    it('after DELETE, If-Match of the erased version is 412, even before the projections caught up', async () => {
      const leadId = newLeadId();
      const v1 = versionOf(await put(leadId, { markdown: '# doomed' }));
      await harness().settle(); // the catalog knows v1
      expect((await harness().inject({ method: 'DELETE', url: `/v1/twins/${leadId}` })).statusCode).toBe(202);
      const res = await put(leadId, { markdown: '# back?' }, { 'if-match': `"${v1}"` });
      expectProblemCode(res, 412, 'TWIN.VERSION_CONFLICT');
      expectProblemCode(
        await put(leadId, { markdown: '# back?' }, { 'if-match': '*' }),
        412,
        'TWIN.VERSION_CONFLICT',
      );
    });

    it('refuses an If-Match that is not entity-tag syntax with 400, writing nothing', async () => {
      const leadId = newLeadId();
      const v1 = versionOf(await put(leadId, { markdown: '# v1' }));
      await expectNothingWritten(async () => {
        expectProblemCode(
          await put(leadId, { markdown: '# x' }, { 'if-match': v1 }),
          400,
          'HTTP.INVALID_PRECONDITION',
        );
      });
    });

    it('with an Idempotency-Key: the retry of a conditional save gets its 202, not a 412', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const v1 = versionOf(await put(leadId, { markdown: '# v1' }));
      const headers = { 'if-match': `"${v1}"`, 'idempotency-key': key };
      const first = await put(leadId, { markdown: '# v2' }, headers);
      expect(first.statusCode).toBe(202);
      const retry = await put(leadId, { markdown: '# v2' }, headers);
      expect(retry.statusCode).toBe(202);
      expect(versionOf(retry)).toBe(versionOf(first));
      // A 412 is not remembered: the key is free again, and the request sent with the right version runs.
      const key2 = newKey();
      const stale = await put(
        leadId,
        { markdown: '# v3' },
        { 'if-match': `"${v1}"`, 'idempotency-key': key2 },
      );
      expectProblemCode(stale, 412, 'TWIN.VERSION_CONFLICT');
      const fixed = await put(
        leadId,
        { markdown: '# v3' },
        { 'if-match': first.headers.etag as string, 'idempotency-key': key2 },
      );
      expect(fixed.statusCode).toBe(202);
      expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    });
  });

  describe('Idempotency-Key on POST /v1/twins:batch', () => {
    it('covers the whole batch: the same key and body give the same results, written once', async () => {
      const leadId = newLeadId();
      const key = newKey();
      const spy = spyOnSaves(harness().runtime, leadId);
      try {
        const body = {
          items: [
            { leadId, markdown: '# in a batch' },
            { leadId: newLeadId(), markdown: '# another' },
            { leadId: 'bad/id', markdown: '# refused' },
          ],
        };
        const first = await batch(body, { 'idempotency-key': key });
        expect(first.statusCode).toBe(207);
        const again = await batch(body, { 'idempotency-key': key });
        expect(again.statusCode).toBe(207);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(json(again)).toEqual(json(first));
        expect(spy.counts).toEqual({ blobWrites: 1, events: 1 });
        await expectNothingWritten(async () => {
          expect((await batch(body, { 'idempotency-key': key })).statusCode).toBe(207);
        });
      } finally {
        spy.restore();
      }
    });

    it('the same key with another batch is refused with 422, writing nothing', async () => {
      const key = newKey();
      expect(
        (await batch({ items: [{ leadId: newLeadId(), markdown: '# a' }] }, { 'idempotency-key': key }))
          .statusCode,
      ).toBe(200);
      await expectNothingWritten(async () => {
        expectProblemCode(
          await batch({ items: [{ leadId: newLeadId(), markdown: '# b' }] }, { 'idempotency-key': key }),
          422,
          'IDEMPOTENCY.KEY_REUSED',
        );
      });
    });
  });
}
