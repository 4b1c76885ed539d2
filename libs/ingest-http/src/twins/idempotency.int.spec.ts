import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { idempotencyFingerprint } from '@twinstore/application';
import { createRuntime, loadConfig, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, startAzurite, TempDir, TestAzurite } from '@twinstore/testing';
import { RunningIngestApi, startIngestApi } from '../ingest-api';
import { testApiKey } from '../testing/api-keys';

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

  async function start(env: Record<string, string> = {}) {
    const config = loadConfig({
      TWINS_DATA_DIR: tmp.dir,
      TWINS_PORT: '0',
      TWINS_LOG_LEVEL: 'silent',
      ...env,
    });
    const runtime = await createRuntime(config, { service: 'idempotency-int' });
    const api = await startIngestApi(runtime, { logger: false });
    const instance = { api, runtime };
    open.push(instance);
    const fastify = api.app.getHttpAdapter().getInstance();
    const authorization = `Bearer ${await testApiKey(runtime.apiKeys)}`;
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
          headers: { 'content-type': 'text/markdown', 'idempotency-key': key, authorization },
          payload: markdown,
        }),
      batch: (items: unknown[], key: string) =>
        fastify.inject({
          method: 'POST',
          url: '/v1/twins:batch',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization },
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

  describe.each([
    { store: 'SQLite', onTable: false },
    { store: 'Table Storage (Azurite), as instances on several machines share it', onTable: true },
  ])('with a short claim lease that a running request renews, on $store', ({ onTable }) => {
    const LEASE_MS = 1000;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let azurite: TestAzurite | undefined;
    let tables = 0;
    let env: Record<string, string>;

    beforeEach(async () => {
      env = { TWINS_IDEMPOTENCY_LEASE_MS: String(LEASE_MS) };
      if (onTable) {
        azurite ??= await startAzurite();
        env = {
          ...env,
          TWINS_ACTIVITY_STORE: 'azure-table',
          TWINS_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          TWINS_AZURE_TABLE_NAME: `idem${process.pid}x${++tables}`,
          TWINS_AZURE_ALLOW_INSECURE: 'true',
        };
      }
    });
    afterAll(async () => {
      await azurite?.stop();
    });
    const short = () => start(env);

    it('a claim left by a dead holder (never renewed) lapses after one lease: the retry then runs', async () => {
      const api = await short();
      expect(api.runtime.idempotency.constructor.name).toBe(
        onTable ? 'TableIdempotencyStore' : 'SqliteIdempotencyStore',
      );
      expect(api.runtime.idempotency.leaseMs).toBe(LEASE_MS);
      const markdown = '# retried after a crash';
      // What a PUT with this key claims (see replyIdempotently); the holder dies without a word to the store.
      // On SQLite the holder is this (live) process, so the fast path for a dead process on this machine does
      // not apply: the retry waits for the lease, as an instance on another machine (azure profile) would.
      const hash = idempotencyFingerprint([
        'PUT /v1/twins/lead-dead',
        'text/markdown',
        '',
        Buffer.from(markdown),
      ]);
      expect(await api.runtime.idempotency.begin('key-dead', 'PUT /v1/twins/lead-dead', hash)).toMatchObject({
        state: 'new',
      });
      const refused = await api.put('lead-dead', markdown, 'key-dead');
      expect(refused.statusCode).toBe(409);
      expect(refused.headers['retry-after']).toBe('1');

      await sleep(LEASE_MS + 100);
      const retried = await api.put('lead-dead', markdown, 'key-dead');
      expect(retried.statusCode).toBe(202);
      expect((await api.blobs()).filter((p) => p.includes('lead-dead'))).toHaveLength(1);
      const replay = await api.put('lead-dead', markdown, 'key-dead');
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(body(replay).version).toBe(body(retried).version);
    });

    it('a live request slower than several leases keeps its key: a retry meanwhile is in flight', async () => {
      const [a, b] = [await short(), await short()];
      const put = a.runtime.content.put.bind(a.runtime.content);
      a.runtime.content.put = async (...args) => {
        await sleep(3 * LEASE_MS);
        return put(...args);
      };
      const first = a.put('lead-slow', '# slow', 'key-slow');
      await sleep(2 * LEASE_MS);
      const during = await b.put('lead-slow', '# slow', 'key-slow');
      expect(during.statusCode).toBe(409);
      const done = await first;
      expect(done.statusCode).toBe(202);
      const after = await b.put('lead-slow', '# slow', 'key-slow');
      expect(after.statusCode).toBe(202);
      expect(after.headers['idempotent-replayed']).toBe('true');
      expect(body(after).version).toBe(body(done).version);
      expect((await b.blobs()).filter((p) => p.includes('lead-slow'))).toHaveLength(1);
    });
  });
});
