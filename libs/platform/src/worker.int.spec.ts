import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { issueApiKey } from '@twinstore/application';
import { freePort, makeTempDir, TempDir } from '@twinstore/testing';
import { loadConfig } from './config';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';
import { startWorker, WorkerHandle } from './worker';

describe('worker management endpoints', () => {
  let tmp: TempDir | undefined;
  let runtime: TwinsRuntime | undefined;
  let worker: WorkerHandle | undefined;
  afterEach(async () => {
    await worker?.close();
    await runtime?.close();
    await tmp?.cleanup();
  });

  async function start(env: Record<string, string>) {
    tmp = await makeTempDir('worker-mgmt');
    const config = loadConfig({
      TWINS_DATA_DIR: tmp.dir,
      TWINS_MANAGEMENT_PORT: String(await freePort()),
      ...env,
    });
    runtime = await createRuntime(config, { service: 'indexer', logger: pino({ level: 'silent' }) });
    worker = await startWorker(runtime, 'indexer');
    return { url: worker.url, runtime };
  }

  it('TWINS_METRICS_AUTH: /metrics needs a valid API key (any scope); /healthz stays open', async () => {
    const { url, runtime } = await start({ TWINS_METRICS_AUTH: 'true' });
    const noKey = await fetch(`${url}/metrics`);
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(noKey.headers.get('www-authenticate')).toContain('Bearer');
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer tws_0000000000000000_x' } })).status,
    ).toBe(401);
    const { key } = await issueApiKey(runtime.apiKeys, { name: 'prometheus', scopes: ['search'] });
    const ok = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('twins_');
    expect((await fetch(`${url}/metrics`, { headers: { 'x-api-key': key } })).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('by default /metrics is open, as on the ingest API', async () => {
    const { url } = await start({});
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });
});
