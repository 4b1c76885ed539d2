import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { VersionGenerator } from '@twinstore/domain';
import { generatePersona } from '@twinstore/personas';
import { distinctiveTerm, latencySummary, loadCommand } from './load.command';

interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

interface StoredTwin {
  markdown: string;
  metadata: { classification: string };
  version: string;
  reads: number;
  searches: number;
}

interface FakeOptions {
  /** Answer time of every request, so requests overlap and the concurrency bound is exercised. */
  delayMs?: number;
  /** Answer the very first request 503 with this Retry-After (seconds). */
  firstRetryAfter?: number;
  /** Projections lag: each twin's first N reads answer 404 and its first N searches miss it. */
  lagPolls?: number;
  rejectLeadIds?: Set<string>;
  corruptLeadIds?: Set<string>;
  unsearchableLeadIds?: Set<string>;
}

/** A stand-in for the HTTP API v1 that records every request and how many were in flight at once. */
class FakeTwinsApi {
  readonly requests: RecordedRequest[] = [];
  readonly twins = new Map<string, StoredTwin>();
  inFlight = 0;
  maxInFlight = 0;
  private readonly versions = new VersionGenerator(() => new Date());
  private readonly answered = new Map<string, { status: number; body: string }>();
  private server?: Server;

  constructor(private readonly options: FakeOptions = {}) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  count(method: string, prefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(prefix)).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const url = new URL(req.url!, 'http://fake');
      const recorded: RecordedRequest = {
        method: req.method!,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: performance.now(),
      };
      this.requests.push(recorded);
      const isFirst = this.requests.length === 1;
      if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
      if (isFirst && this.options.firstRetryAfter !== undefined) {
        return send(res, 503, { title: 'busy' }, { 'retry-after': String(this.options.firstRetryAfter) });
      }
      this.route(recorded, res);
    } finally {
      this.inFlight--;
    }
  }

  private route(req: RecordedRequest, res: ServerResponse): void {
    const twin = /^\/v1\/twins\/([^/]+)$/.exec(req.path);
    if (req.method === 'PUT' && twin)
      return this.idempotent(req, res, () => this.put(twin[1], JSON.parse(req.body.toString())));
    if (req.method === 'POST' && req.path === '/v1/twins:batch') {
      return this.idempotent(req, res, () => {
        const { items } = JSON.parse(req.body.toString()) as {
          items: { leadId: string; markdown: string; metadata: { classification: string } }[];
        };
        const results = items.map((item) => {
          const r = this.put(item.leadId, item);
          return r.status === 202 ? r.body : { leadId: item.leadId, status: r.status, problem: r.body };
        });
        return { status: 200, body: { results } };
      });
    }
    if (req.method === 'GET' && twin) {
      const stored = this.twins.get(twin[1]);
      if (stored && stored.reads++ < (this.options.lagPolls ?? 0))
        return send(res, 404, { title: 'not yet' });
      const min = req.query.get('minVersion');
      if (!stored || (min && stored.version < min)) return send(res, 404, { title: 'not found' });
      let bytes = Buffer.from(stored.markdown, 'utf8');
      if (this.options.corruptLeadIds?.has(twin[1])) bytes = Buffer.concat([bytes, Buffer.from('!')]);
      res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8', etag: `"${stored.version}"` });
      return void res.end(bytes);
    }
    if (req.method === 'GET' && req.path === '/v1/search') {
      const q = (req.query.get('q') ?? '').toLowerCase();
      const classes = req.query.get('classification')?.split(',');
      const hits = [...this.twins.keys()]
        .map((leadId) => ({ leadId, twin: this.twins.get(leadId) }))
        .filter(({ leadId, twin }) => twin && !this.options.unsearchableLeadIds?.has(leadId))
        .filter(({ twin }) => !classes || classes.includes(twin!.metadata.classification))
        .filter(({ twin }) =>
          twin!.markdown
            .toLowerCase()
            .split(/[^\p{L}\p{N}]+/u)
            .includes(q),
        )
        .filter(({ twin }) => twin!.searches++ >= (this.options.lagPolls ?? 0))
        .map(({ leadId, twin }) => ({
          leadId,
          version: twin!.version,
          classification: twin!.metadata.classification,
        }));
      return send(res, 200, { total: hits.length, hits, facets: {} });
    }
    send(res, 404, { title: 'no route' });
  }

  private put(leadId: string, body: { markdown: string; metadata: { classification: string } }) {
    if (this.options.rejectLeadIds?.has(leadId)) {
      return {
        status: 400,
        body: {
          type: 'urn:twinstore:TWIN.INVALID_METADATA',
          title: 'metadata is invalid',
          detail: 'age out of range',
        },
      };
    }
    const version = this.versions.next();
    this.twins.set(leadId, {
      markdown: body.markdown,
      metadata: body.metadata,
      version,
      reads: 0,
      searches: 0,
    });
    return { status: 202, body: { leadId, version, status: 'accepted' }, headers: { etag: `"${version}"` } };
  }

  private idempotent(
    req: RecordedRequest,
    res: ServerResponse,
    run: () => { status: number; body: unknown; headers?: Record<string, string> },
  ): void {
    const key = req.headers['idempotency-key'] as string | undefined;
    const previous = key ? this.answered.get(key) : undefined;
    if (previous)
      return void res.writeHead(previous.status, { 'content-type': 'application/json' }).end(previous.body);
    const result = run();
    if (key) this.answered.set(key, { status: result.status, body: JSON.stringify(result.body) });
    send(res, result.status, result.body, result.headers);
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  res.writeHead(status, { 'content-type': type, ...headers }).end(JSON.stringify(body));
}

const sink = () => {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
};

const FAST_RETRIES = { baseDelayMs: 5, maxDelayMs: 5000 };
let api: FakeTwinsApi;

afterEach(async () => {
  await api?.close();
});

describe('loadCommand', () => {
  it('posts every persona once with bounded concurrency, honours Retry-After and reports consistent numbers', async () => {
    api = new FakeTwinsApi({ delayMs: 15, firstRetryAfter: 1 });
    const baseUrl = await api.start();
    const out = sink();
    const count = 40;
    const summary = await loadCommand({
      baseUrl,
      count,
      concurrency: 4,
      seed: 100,
      out: out.stream,
      apiKey: 'k-123',
      client: FAST_RETRIES,
    });

    const puts = api.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(count + 1);
    expect(api.maxInFlight).toBeLessThanOrEqual(4);
    expect(api.maxInFlight).toBe(4);

    // the 503 was retried with the same idempotency key, no sooner than Retry-After allowed
    const first = puts[0];
    const retry = puts
      .slice(1)
      .find((r) => r.headers['idempotency-key'] === first.headers['idempotency-key'])!;
    expect(retry.path).toBe(first.path);
    expect(retry.at - first.at).toBeGreaterThanOrEqual(990);
    expect(summary.retries).toBe(1);

    const expected = Array.from({ length: count }, (_, i) => generatePersona(100 + i));
    for (const p of expected) {
      const stored = api.twins.get(p.leadId)!;
      expect(stored.markdown).toBe(p.markdown);
      expect(summary.versions.get(p.leadId)).toBe(stored.version);
    }
    expect(puts.every((r) => r.headers.authorization === 'Bearer k-123')).toBe(true);

    expect(summary.accepted).toBe(count);
    expect(summary.failed).toBe(0);
    expect(summary.versions.size).toBe(count);
    expect(summary.requests).toBe(count);
    expect(summary.bytes).toBe(expected.reduce((n, p) => n + Buffer.byteLength(p.markdown), 0));
    expect(summary.twinsPerSecond).toBeCloseTo(count / (summary.elapsedMs / 1000), 6);
    expect(summary.megabytesPerSecond).toBeCloseTo(summary.bytes / 1e6 / (summary.elapsedMs / 1000), 6);
    const l = summary.latencyMs;
    expect(l.p50).toBeGreaterThanOrEqual(15);
    expect(l.p50).toBeLessThanOrEqual(l.p95);
    expect(l.p95).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);
    expect(l.max).toBeGreaterThanOrEqual(1000); // the retried PUT waited out Retry-After
    expect(summary.elapsedMs).toBeGreaterThanOrEqual(1000);

    const text = out.text();
    expect(text).toContain('load: 40 accepted, 0 failed');
    expect(text).toMatch(/throughput: [\d.]+ twins\/s, [\d.]+ MB\/s/);
    expect(text).toMatch(/PUT latency: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(text).toContain('retries: 1');
  });

  it('uses POST /v1/twins:batch in chunks and counts per-item refusals as failures', async () => {
    const rejected = generatePersona(7).leadId;
    api = new FakeTwinsApi({ delayMs: 5, rejectLeadIds: new Set([rejected]) });
    const baseUrl = await api.start();
    const out = sink();
    const summary = await loadCommand({
      baseUrl,
      count: 25,
      concurrency: 2,
      seed: 1,
      batchSize: 10,
      out: out.stream,
    });

    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => (JSON.parse(r.body.toString()) as { items: unknown[] }).items.length)).toEqual([
      10, 10, 5,
    ]);
    expect(api.count('PUT', '/')).toBe(0);
    expect(api.maxInFlight).toBeLessThanOrEqual(2);
    expect(summary.accepted).toBe(24);
    expect(summary.failed).toBe(1);
    expect(summary.requests).toBe(3);
    expect(summary.failures).toEqual([{ leadId: rejected, error: 'age out of range' }]);
    expect(summary.versions.has(rejected)).toBe(false);
    expect(out.text()).toContain('batch POST (10 per request) latency');
  });

  it('keeps no versions when told not to (the CLI), so a million twins take no more memory than ten', async () => {
    api = new FakeTwinsApi({});
    const baseUrl = await api.start();
    const summary = await loadCommand({
      baseUrl,
      count: 30,
      concurrency: 3,
      seed: 1,
      batchSize: 10,
      keepVersions: false,
      out: sink().stream,
    });
    expect(summary.accepted).toBe(30);
    expect(summary.versions.size).toBe(0);
    expect(api.twins.size).toBe(30);
  });

  it('reports refused PUTs without retrying them', async () => {
    const rejected = generatePersona(3).leadId;
    api = new FakeTwinsApi({ rejectLeadIds: new Set([rejected]) });
    const baseUrl = await api.start();
    const out = sink();
    const summary = await loadCommand({ baseUrl, count: 5, concurrency: 5, seed: 1, out: out.stream });
    expect(api.count('PUT', '/')).toBe(5);
    expect(summary).toMatchObject({ accepted: 4, failed: 1, retries: 0 });
    expect(summary.failures[0].leadId).toBe(rejected);
    expect(summary.failures[0].error).toContain('400 metadata is invalid: age out of range');
    expect(out.text()).toContain(`failed ${rejected}: `);
  });

  it('verifies read-your-writes and search visibility, waiting for lagging projections', async () => {
    api = new FakeTwinsApi({ lagPolls: 2 });
    const baseUrl = await api.start();
    const out = sink();
    const summary = await loadCommand({
      baseUrl,
      count: 12,
      concurrency: 4,
      seed: 50,
      verify: true,
      out: out.stream,
    });

    expect(summary.verification).toMatchObject({
      checked: 12,
      readable: 12,
      searchable: 12,
      mismatches: [],
      timedOut: false,
    });
    const gets = api.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/twins/'));
    for (const g of gets)
      expect(g.query.get('minVersion')).toBe(summary.versions.get(g.path.split('/').pop()!));
    // two polls found nothing yet, the third read succeeded; then search lagged the same way
    expect(gets).toHaveLength(12 * 3);
    expect(api.requests.filter((r) => r.path === '/v1/search')).toHaveLength(12 * 3);
    const searches = api.requests.filter((r) => r.path === '/v1/search');
    for (const s of searches) {
      expect(s.query.get('q')).toMatch(/^[0-9a-f]{8}$/);
      expect(['hot', 'warm', 'cold']).toContain(s.query.get('classification'));
    }
    expect(out.text()).toContain('verify: 12/12 readable byte-exact, 12/12 searchable');
  });

  it('reports wrong bytes at once and unsearchable twins when the wait runs out', async () => {
    const corrupt = generatePersona(2).leadId;
    const hidden = generatePersona(4).leadId;
    api = new FakeTwinsApi({ corruptLeadIds: new Set([corrupt]), unsearchableLeadIds: new Set([hidden]) });
    const baseUrl = await api.start();
    const out = sink();
    const summary = await loadCommand({
      baseUrl,
      count: 6,
      seed: 1,
      verify: true,
      verifyTimeoutMs: 1200,
      out: out.stream,
    });
    const v = summary.verification!;
    expect(v.timedOut).toBe(true);
    expect(v.readable).toBe(5);
    expect(v.searchable).toBe(4);
    const reasons = new Map(v.mismatches.map((m) => [m.leadId, m.reason]));
    expect([...reasons.keys()].sort()).toEqual([corrupt, hidden].sort());
    expect(reasons.get(corrupt)).toMatch(
      /^content differs: (\d+) bytes, expected \d+; first difference at byte \d+/,
    );
    expect(reasons.get(hidden)).toMatch(/^not found by search q=[0-9a-f]{8} classification=(hot|warm|cold)$/);
    // a twin with wrong bytes is not polled again
    expect(api.requests.filter((r) => r.path === `/v1/twins/${corrupt}` && r.method === 'GET')).toHaveLength(
      1,
    );
    expect(out.text()).toContain('2 mismatches (timed out)');
  });

  it('prints plain progress lines, not a bar, when the progress stream is not a terminal', async () => {
    api = new FakeTwinsApi({ delayMs: 20 });
    const baseUrl = await api.start();
    const progress = sink();
    await loadCommand({
      baseUrl,
      count: 30,
      concurrency: 2,
      progress: true,
      progressOut: progress.stream,
      progressIntervalMs: 60,
      out: sink().stream,
    });
    const lines = progress.text().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(/^load: \d+\/30 \([\d.]+%\), [\d.]+\/s, 0 failed$/);
    expect(progress.text()).not.toContain('\u001b[');
  });
});

describe('loadCommand arguments', () => {
  it('refuses values that would spin or overflow a batch, before sending anything', async () => {
    api = new FakeTwinsApi();
    const baseUrl = await api.start();
    await expect(loadCommand({ baseUrl, count: Number('x') })).rejects.toThrow(RangeError);
    await expect(loadCommand({ baseUrl, count: 5, concurrency: 0 })).rejects.toThrow(RangeError);
    await expect(loadCommand({ baseUrl, count: 5, batchSize: 1001 })).rejects.toThrow(RangeError);
    expect(api.requests).toHaveLength(0);
  });
});

describe('distinctiveTerm', () => {
  it('picks the leadId head that the persona carries, else the longest word', () => {
    const p = generatePersona(9);
    expect(distinctiveTerm(p.markdown, p.leadId)).toBe(p.leadId.slice(0, 8));
    expect(distinctiveTerm('short words and superannuation', 'abcdef12-0000')).toBe('superannuation');
  });
});

describe('latencySummary', () => {
  it('uses nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencySummary(samples)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
    expect(latencySummary([])).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 });
  });
});
