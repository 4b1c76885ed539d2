import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_API_KEY_LINE } from '@twinstore/ingest-http';
import { createRuntime, loadConfig } from '@twinstore/platform';
import {
  buildAppsForTest,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  TempDir,
  waitFor,
} from '@twinstore/testing';

/** The bundled service as operators run it: `node dist/apps/ingest-api/main.js`, stopped with SIGTERM. */
describe('ingest-api process', () => {
  let tmp: TempDir;
  let service: ServiceProcess;
  let baseUrl: string;
  let buildDir: string;
  let apiKey: string;
  let port: number;

  beforeAll(async () => {
    buildDir = buildAppsForTest('ingest-api-main');
    tmp = await makeTempDir('ingest-api-main');
    port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    service = spawnService(buildDir, 'ingest-api', [], {
      TWINS_DATA_DIR: tmp.dir,
      TWINS_PORT: String(port),
      TWINS_LOG_LEVEL: 'info',
      TWINS_ACCESS_FLUSH_MS: '600000',
    });
    await waitFor('readiness', async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 30_000);
    // the first start on an empty data directory prints an admin key, once, to stdout
    apiKey = await waitFor(
      'first-start key',
      async () => FIRST_API_KEY_LINE.exec(service.output())?.[1],
      5_000,
    );
  }, 120_000);

  afterAll(async () => {
    await service?.stop('SIGKILL');
    await tmp?.cleanup();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  it('serves, then on SIGTERM finishes in-flight writes, flushes access events and exits 0', async () => {
    const first = await fetch(`${baseUrl}/v1/twins/proc-1`, {
      method: 'PUT',
      headers: { 'content-type': 'text/markdown; charset=utf-8', authorization: `Bearer ${apiKey}` },
      body: '---\nclassification: hot\n---\n# Process 🚀\r\n',
    });
    expect(first.status).toBe(202);
    const { version } = (await first.json()) as { version: string };
    const read = await fetch(`${baseUrl}/v1/twins/proc-1?minVersion=${version}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).toString('utf8')).toBe(
      '---\nclassification: hot\n---\n# Process 🚀\r\n',
    );

    // one request is surely in flight: its headers and half its body are sent before the SIGTERM
    const body = JSON.stringify({ markdown: `# slow upload\n${'z'.repeat(20_000)}` });
    const slow = slowUpload(baseUrl, '/v1/twins/proc-slow', body, apiKey);
    await slow.started;
    // and a burst racing the signal: each is answered, or refused before the server accepted it
    const burst = Array.from({ length: 20 }, (_, i) =>
      fetch(`${baseUrl}/v1/twins/proc-burst-${i}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ markdown: `# burst ${i}\n${'x'.repeat(10_000)}` }),
      }).then(
        (r) => r.status,
        (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
      ),
    );
    const stopped = service.stop('SIGTERM', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    slow.finish();
    expect(await slow.status).toBe(202);
    const statuses = await Promise.all(burst);
    expect(await stopped).toBe(0);
    // refused, reset before accepted, or sent on a pooled keep-alive socket the server had just closed as
    // idle (the keep-alive race of RFC 9112 9.3.1; the client may retry): never a request cut halfway
    for (const s of statuses) expect([202, 'ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']).toContain(s);
    const logs = service.output();
    expect(logs).toContain('ingest-api listening');
    expect(logs).not.toContain('Process 🚀');
    // the key is on its one stdout line and nowhere else: not in any JSON log line
    expect(logs.split(apiKey)).toHaveLength(2);
    for (const line of logs.split('\n').filter((l) => l.startsWith('{'))) expect(line).not.toContain(apiKey);

    // after the exit: every 202 is in the source of truth, and the pending read was flushed as an event
    const runtime = await createRuntime(loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_LOG_LEVEL: 'silent' }), {
      service: 'ingest-api-check',
    });
    try {
      const stored = new Set<string>();
      for await (const b of runtime.content.list('digital-twins/')) stored.add(b.path.split('/').pop()!);
      const accepted = ['proc-slow', ...statuses.flatMap((s, i) => (s === 202 ? [`proc-burst-${i}`] : []))];
      for (const leadId of accepted) expect(stored.has(`${leadId}.md`), leadId).toBe(true);
      const tiering = (await runtime.busAdmin.stats()).find((s) => s.subscription === 'tiering');
      // tiering receives every twin.saved.v1 plus the flushed twin.accessed.v1 of the one read
      expect(tiering?.active).toBe(1 + accepted.length + 1);
    } finally {
      await runtime.close();
    }
  });

  it('started again on the same data directory, prints no key; the first key still works', async () => {
    await service.stop('SIGTERM', 20_000); // stopped by the test above already; harmless otherwise
    service = spawnService(buildDir, 'ingest-api', [], {
      TWINS_DATA_DIR: tmp.dir,
      TWINS_PORT: String(port),
      TWINS_LOG_LEVEL: 'info',
    });
    await waitFor('readiness', async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 30_000);
    const auth = { authorization: `Bearer ${apiKey}` };
    const again = await fetch(`${baseUrl}/v1/twins/proc-2`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ markdown: '# again' }),
    });
    expect(again.status).toBe(202);
    const anonymous = await fetch(`${baseUrl}/v1/twins/proc-1`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="twinstore"');
    expect(service.output()).toContain('ingest-api listening');
    expect(service.output()).not.toMatch(/TWINS_API_KEY=|tws_/);
  });
});

/** A PUT whose body is sent in two halves: `started` once the first half is out, the rest on `finish()`. */
function slowUpload(baseUrl: string, path: string, body: string, apiKey: string) {
  const { hostname, port } = new URL(baseUrl);
  const bytes = Buffer.from(body);
  const half = bytes.length >> 1;
  let finish!: () => void;
  let started!: Promise<void>;
  const status = new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: 'PUT',
        path,
        headers: {
          'content-type': 'application/json',
          'content-length': bytes.length,
          authorization: `Bearer ${apiKey}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    started = new Promise((ok) => req.write(bytes.subarray(0, half), () => setTimeout(ok, 100)));
    finish = () => req.end(bytes.subarray(half));
  });
  return { status, started, finish: () => finish() };
}
