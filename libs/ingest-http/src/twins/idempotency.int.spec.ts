import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRuntime, loadConfig, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { RunningIngestApi, startIngestApi } from '../ingest-api';

/** Ingest API instances over one embedded data directory, as separate processes (or a restart) would be. */
describe('Idempotency-Key answers live in the data directory', () => {
  let tmp: TempDir;
  const open: { api: RunningIngestApi; runtime: TwinsRuntime }[] = [];

  beforeEach(async () => {
    tmp = await makeTempDir('idempotency-restart');
  });
  afterEach(async () => {
    for (const { api, runtime } of open.splice(0)) {
      await api.close();
      await runtime.close();
    }
    await tmp.cleanup();
  });

  async function start() {
    const config = loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_PORT: '0', TWINS_LOG_LEVEL: 'silent' });
    const runtime = await createRuntime(config, { service: 'idempotency-int' });
    const api = await startIngestApi(runtime, { logger: false });
    const instance = { api, runtime };
    open.push(instance);
    const fastify = api.app.getHttpAdapter().getInstance();
    const blobs = async () => {
      const paths: string[] = [];
      for await (const b of runtime.content.list('digital-twins/')) paths.push(`${b.path}@${b.etag}`);
      return paths.sort();
    };
    return {
      runtime,
      blobs,
      put: (leadId: string, markdown: string, key: string) =>
        fastify.inject({
          method: 'PUT',
          url: `/v1/twins/${leadId}`,
          headers: { 'content-type': 'text/markdown', 'idempotency-key': key },
          payload: markdown,
        }),
      batch: (items: unknown[], key: string) =>
        fastify.inject({
          method: 'POST',
          url: '/v1/twins:batch',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          payload: JSON.stringify({ items }),
        }),
      /** A crash, as far as this test can tell: the instance is gone without any goodbye to the store. */
      async stop() {
        open.splice(open.indexOf(instance), 1);
        await api.close();
        await runtime.close();
      },
    };
  }

  const body = (res: LightMyRequestResponse) => JSON.parse(res.body) as Record<string, unknown>;

  it('a new instance on the same data directory returns the answers the previous one stored', async () => {
    const first = await start();
    const saved = await first.put('lead-restart', '# before the restart', 'key-put');
    const batched = await first.batch([{ leadId: 'lead-batch', markdown: '# batched' }], 'key-batch');
    expect(saved.statusCode).toBe(202);
    expect(batched.statusCode).toBe(200);
    const blobs = await first.blobs();
    await first.stop();

    const second = await start();
    const replay = await second.put('lead-restart', '# before the restart', 'key-put');
    expect(replay.statusCode).toBe(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(body(replay)).toEqual(body(saved));
    expect(replay.headers.etag).toBe(saved.headers.etag);
    const batchReplay = await second.batch([{ leadId: 'lead-batch', markdown: '# batched' }], 'key-batch');
    expect(body(batchReplay)).toEqual(body(batched));
    expect(await second.blobs()).toEqual(blobs);
    expect((await second.put('lead-restart', '# another body', 'key-put')).statusCode).toBe(422);
  });

  it('two instances at once share the keys: the same request through both runs once', async () => {
    const [a, b] = [await start(), await start()];
    const put = a.runtime.content.put.bind(a.runtime.content);
    // Instance A is slow to write, so B is asked while A's request is in flight.
    a.runtime.content.put = async (...args) => {
      await new Promise((r) => setTimeout(r, 300));
      return put(...args);
    };
    const [fromA, fromB] = await Promise.all([
      a.put('lead-shared', '# once', 'key-shared'),
      new Promise((r) => setTimeout(r, 50)).then(() => b.put('lead-shared', '# once', 'key-shared')),
    ]);
    expect(fromA.statusCode).toBe(202);
    expect(fromB.statusCode).toBe(409);
    expect(fromB.headers['retry-after']).toBe('1');
    const retry = await b.put('lead-shared', '# once', 'key-shared');
    expect(retry.statusCode).toBe(202);
    expect(body(retry).version).toBe(body(fromA).version);
    expect((await b.blobs()).filter((p) => p.includes('lead-shared'))).toHaveLength(1);
  });
});
