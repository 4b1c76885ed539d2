import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { issueApiKey } from '@twinstore/application';
import { RunningIngestApi, startIngestApi } from '@twinstore/ingest-http';
import { createRuntime, loadConfig, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { loadCommand } from './load.command';

const quiet = () => new PassThrough().resume();

describe('twins load under back-pressure', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('waits out Retry-After on 429 and counts the twin accepted once the server takes it', async () => {
    const seen: { at: number; key: string | undefined }[] = [];
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ at: performance.now(), key: req.headers['idempotency-key'] as string | undefined });
        if (seen.length <= 2) {
          res
            .writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '1' })
            .end(JSON.stringify({ status: 429, title: 'Too many requests', code: 'HTTP.RATE_LIMITED' }));
          return;
        }
        const leadId = decodeURIComponent(req.url!.split('/').pop()!);
        res
          .writeHead(202, { 'content-type': 'application/json', etag: '"01KTEST"' })
          .end(JSON.stringify({ leadId, version: '01KTEST', status: 'accepted' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const summary = await loadCommand({ baseUrl: `http://127.0.0.1:${port}`, count: 1, out: quiet() });

    expect(summary).toMatchObject({ accepted: 1, failed: 0, retries: 2, requests: 1 });
    expect(seen).toHaveLength(3);
    // each 429 was waited out (Retry-After: 1, plus at most 10% jitter), with the same idempotency key
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(990);
    expect(seen[2].at - seen[1].at).toBeGreaterThanOrEqual(990);
    expect(summary.elapsedMs).toBeGreaterThanOrEqual(1980);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
  });

  it('loads every twin through the real ingest API rate limiting it, by honouring its 429s', async () => {
    const tmp: TempDir = await makeTempDir('load-rate-limit');
    cleanups.push(() => tmp.cleanup());
    const config = loadConfig({
      TWINS_DATA_DIR: tmp.dir,
      TWINS_PORT: '0',
      TWINS_LOG_LEVEL: 'silent',
      TWINS_ACCESS_FLUSH_MS: '0',
      TWINS_RATE_LIMIT_RPS: '4',
      TWINS_RATE_LIMIT_BURST: '2',
    });
    const runtime: TwinsRuntime = await createRuntime(config, { service: 'load-rate-limit' });
    cleanups.push(() => runtime.close());
    const api: RunningIngestApi = await startIngestApi(runtime, { logger: false });
    cleanups.push(() => api.close());
    const { key } = await issueApiKey(runtime.apiKeys, { name: 'load', scopes: ['admin'] });

    const summary = await loadCommand({
      baseUrl: api.url,
      apiKey: key,
      count: 8,
      concurrency: 4,
      out: quiet(),
      client: { maxAttempts: 10 },
    });

    expect(summary.failed).toBe(0);
    expect(summary.accepted).toBe(8);
    expect(summary.retries).toBeGreaterThan(0);
    // 2 at once, then 4 per second: the last of 8 cannot have been accepted before 1.5 s
    expect(summary.elapsedMs).toBeGreaterThanOrEqual(1400);
  });
});
