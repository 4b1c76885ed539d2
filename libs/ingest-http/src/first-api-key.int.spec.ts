import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newApiKey } from '@twinstore/application';
import { createLogger, createRuntime, loadConfig, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { ensureFirstApiKey, FIRST_API_KEY_LINE } from './first-api-key';
import { createIngestApp } from './ingest-api';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

describe('the first-start API key (embedded runtime)', () => {
  let tmp: TempDir;
  const runtimes: TwinsRuntime[] = [];

  beforeEach(async () => {
    tmp = await makeTempDir('first-api-key');
  });
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
    await tmp.cleanup();
  });

  async function start(env: Record<string, string> = {}) {
    const logs = new Sink();
    const config = loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_LOG_LEVEL: 'debug', ...env });
    const logger = createLogger({ level: 'debug', service: 'first-key', destination: logs });
    const runtime = await createRuntime(config, { service: 'first-key', logger });
    runtimes.push(runtime);
    return { runtime, logs };
  }

  it('is created on an empty store, printed once, works as admin, and never reaches the log', async () => {
    const { runtime, logs } = await start();
    const stdout = new Sink();
    const keyId = await ensureFirstApiKey(runtime, stdout);
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
    const key = FIRST_API_KEY_LINE.exec(stdout.text)![1];
    expect(stdout.text.split(key)).toHaveLength(2);
    expect((await runtime.apiKeys.get(keyId!))?.scopes).toEqual(['admin']);

    const app = await createIngestApp(runtime, { logger: true });
    try {
      const inject = app.getHttpAdapter().getInstance().inject.bind(app.getHttpAdapter().getInstance());
      const put = await inject({
        method: 'PUT',
        url: '/v1/twins/first',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        payload: JSON.stringify({ markdown: '# first' }),
      });
      expect(put.statusCode, put.body).toBe(202);
      expect((await inject({ method: 'GET', url: '/v1/twins/first' })).statusCode).toBe(401);
    } finally {
      await app.close();
    }
    await new Promise((r) => setTimeout(r, 50)); // pino flushes asynchronously
    expect(logs.text).toContain(keyId!);
    expect(logs.text).not.toContain(key);
    expect(logs.text).not.toContain(key.split('_').slice(2).join('_'));
  });

  it('is not created again: a second start (same data directory) prints nothing', async () => {
    const first = await start();
    await ensureFirstApiKey(first.runtime, new Sink());
    await first.runtime.close();
    const second = await start();
    const stdout = new Sink();
    expect(await ensureFirstApiKey(second.runtime, stdout)).toBeUndefined();
    expect(stdout.text).toBe('');
    expect(await second.runtime.apiKeys.list()).toHaveLength(1);
  });

  it('is not created when any key exists, revoked ones included', async () => {
    const { runtime } = await start();
    const { record } = newApiKey({ name: 'ops', scopes: ['search'], now: new Date() });
    await runtime.apiKeys.create(record);
    await runtime.apiKeys.revoke(record.keyId, new Date());
    const stdout = new Sink();
    expect(await ensureFirstApiKey(runtime, stdout)).toBeUndefined();
    expect(stdout.text).toBe('');
  });

  it('is never created on the azure profile (operators create keys with `twins keys`)', async () => {
    const { runtime } = await start();
    const azure = { ...runtime, config: { ...runtime.config, profile: 'azure' as const } };
    const stdout = new Sink();
    expect(await ensureFirstApiKey(azure, stdout)).toBeUndefined();
    expect(stdout.text).toBe('');
    expect(await runtime.apiKeys.list()).toEqual([]);
  });
});
