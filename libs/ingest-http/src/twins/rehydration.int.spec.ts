import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Clock, CONSUMERS, ConsumerName } from '@twinstore/application';
import { createHandler, createRuntime, loadConfig, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, startAzurite, TempDir, TestAzurite } from '@twinstore/testing';
import { RunningIngestApi, startIngestApi } from '../ingest-api';
import { Inject, testApiKey, withApiKey } from '../testing/api-keys';

const DAY = 86_400_000;
let seq = 0;
const MARKDOWN = '# Cold one\r\nbytes kept exactly  \n';

let azurite: TestAzurite | undefined;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => {
  await azurite?.stop();
});

/**
 * GET of a cold twin over HTTP: 202 with a job, the job's status, then the twin again. Embedded profile with
 * a simulated rehydration time; blob and table on Azurite (instant rehydration, same code path).
 */
describe.each(['embedded', 'azure'] as const)('rehydration over HTTP (%s)', (profile) => {
  const delayMs = profile === 'embedded' ? 2 * 3_600_000 : 0;
  let tmp: TempDir;
  let runtime: TwinsRuntime;
  let api: RunningIngestApi;
  let inject: Inject;
  let ms = Date.UTC(2031, 5, 1, 8);
  const clock: Clock = { now: () => new Date(ms) };

  beforeEach(async () => {
    tmp = await makeTempDir('rehydration-http-');
    runtime = await createRuntime(
      loadConfig({
        TWINS_DATA_DIR: tmp.dir,
        TWINS_PORT: '0',
        TWINS_LOG_LEVEL: 'silent',
        TWINS_ACCESS_FLUSH_MS: '0',
        TWINS_TIER_POLICY: 'fixed',
        TWINS_REHYDRATION_DELAY_MS: String(delayMs),
        ...(profile === 'azure'
          ? {
              TWINS_CONTENT_STORE: 'azure-blob',
              TWINS_ACTIVITY_STORE: 'azure-table',
              TWINS_AZURE_STORAGE_CONNECTION_STRING: azurite!.connectionString,
              TWINS_AZURE_BLOB_CONTAINER: `rehy-${process.pid}-${++seq}`,
              TWINS_AZURE_TABLE_NAME: `rehy${process.pid}x${seq}`,
              TWINS_AZURE_ALLOW_INSECURE: 'true',
            }
          : {}),
      }),
      { service: 'rehydration-http', clock },
    );
    api = await startIngestApi(runtime, { logger: false });
    const fastify = api.app.getHttpAdapter().getInstance();
    inject = withApiKey((o) => fastify.inject(o), await testApiKey(runtime.apiKeys));
  });
  afterEach(async () => {
    await api.close();
    await runtime.close();
    await tmp.cleanup();
  });

  async function deliver(subscription: ConsumerName): Promise<void> {
    const sub = runtime.subscriber.subscribe(subscription, createHandler(runtime, subscription), {
      concurrency: 1,
      types: CONSUMERS[subscription],
    });
    for (let i = 0; i < 500; i++) {
      const s = (await runtime.busAdmin.stats()).find((x) => x.subscription === subscription);
      if (s?.active === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await sub.close(5_000);
  }

  it('answers 202 with a job for a cold twin; the job completes and the twin is readable again, hot', async () => {
    const put = await inject({
      method: 'PUT',
      url: '/v1/twins/cold-http',
      headers: { 'content-type': 'application/json' },
      payload: { markdown: MARKDOWN, metadata: { classification: 'warm' } },
    });
    expect(put.statusCode).toBe(202);
    const { version } = put.json() as { version: string };
    await deliver('writer');
    await deliver('tiering');
    ms += 400 * DAY;
    expect((await runtime.tiering!.lifecycle.sweep())!.moved).toEqual({ 'hot->cold': 1 });

    const cold = await inject({ method: 'GET', url: '/v1/twins/cold-http' });
    expect(cold.statusCode).toBe(202);
    const jobId = `cold-http.${version}`;
    expect(cold.headers.location).toBe(`/v1/rehydrations/${jobId}`);
    expect(cold.headers['retry-after']).toBe('60');
    expect(cold.headers['content-type']).toMatch(/^application\/json/);
    expect(cold.json()).toMatchObject({
      jobId,
      leadId: 'cold-http',
      version,
      status: 'pending',
      href: `/v1/rehydrations/${jobId}`,
      twin: '/v1/twins/cold-http',
    });
    // a second reader gets the same job
    expect((await inject({ method: 'GET', url: '/v1/twins/cold-http' })).headers.location).toBe(
      cold.headers.location,
    );

    if (delayMs > 0) {
      const pending = await inject({ method: 'GET', url: cold.headers.location as string });
      expect(pending.statusCode).toBe(200);
      expect(pending.json()).toMatchObject({ status: 'pending' });
      expect(pending.headers['retry-after']).toBe('60');
    }
    ms += delayMs;
    const done = await inject({ method: 'GET', url: cold.headers.location as string });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ status: 'completed', completedAt: new Date(ms).toISOString() });
    expect(done.headers['retry-after']).toBeUndefined();

    const twin = await inject({ method: 'GET', url: '/v1/twins/cold-http' });
    expect(twin.statusCode).toBe(200);
    expect(twin.rawPayload.equals(Buffer.from(MARKDOWN))).toBe(true);
    expect(twin.headers['x-twin-tier']).toBe('hot');
  });

  it('an unknown or malformed job id is a 404 problem', async () => {
    for (const url of ['/v1/rehydrations/nobody.01KB0000000000000000000000', '/v1/rehydrations/..%2F..']) {
      const res = await inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
  });
});
