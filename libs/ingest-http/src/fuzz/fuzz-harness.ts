import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  createLogger,
  createRuntime,
  loadConfig,
  startConsumer,
  type TwinsRuntime,
} from '@twinstore/platform';
import type { ConsumerName, RunningSubscription } from '@twinstore/application';
import { createIngestApp } from '../ingest-api';
import { testApiKey, withApiKey } from '../testing/api-keys';

/**
 * The ingest API over the REAL embedded runtime (file-system blobs, SQLite catalog, index and bus) in a temp
 * directory, driven through Fastify `inject` (no sockets). No consumer runs unless asked, so every published
 * event stays in the bus backlog: "nothing written" is checked on the real stores (blob paths and ETags,
 * per-subscription backlog and dead letters, catalog and index counts).
 */
export interface FuzzHarness {
  runtime: TwinsRuntime;
  app: NestFastifyApplication;
  /** An admin API key; `inject` sends it unless the request names a credential of its own. */
  apiKey: string;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Everything the stores hold that a request could change; equal snapshots mean nothing was written. */
  snapshot(): Promise<StoreSnapshot>;
  /** Let the running consumers (if any) drain the backlog. */
  settle(): Promise<void>;
  /** Server-side error log lines written since the last call (the cause of any 500, with its stack). */
  takeErrorLogs(): string[];
  close(): Promise<void>;
}

export interface StoreSnapshot {
  blobs: string[];
  bus: string[];
  catalog: number;
  indexed: number;
}

export interface FuzzHarnessOptions {
  /** Extra TWINS_* settings (e.g. a smaller body limit to keep runs fast). */
  env?: Record<string, string>;
  /** Consumers to run in-process (e.g. the indexer, so search queries run against real rows). */
  consumers?: ConsumerName[];
}

export async function startFuzzHarness(name: string, options: FuzzHarnessOptions = {}): Promise<FuzzHarness> {
  const dir = await mkdtemp(join(tmpdir(), `twinstore-fuzz-${name.replace(/[^A-Za-z0-9_-]/g, '_')}-`));
  const config = loadConfig({
    TWINS_DATA_DIR: dir,
    TWINS_PORT: '0',
    TWINS_LOG_LEVEL: 'error',
    // reads are recorded but only published when flush() is called: snapshot() flushes them
    TWINS_ACCESS_FLUSH_MS: '0',
    ...options.env,
  });
  const errorLogs: string[] = [];
  const logger = createLogger({
    level: 'error',
    service: `fuzz-${name}`,
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        errorLogs.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  const runtime = await createRuntime(config, { service: `fuzz-${name}`, logger });
  const consumers = options.consumers ?? [];
  const subscriptions: RunningSubscription[] = consumers.map((c) => startConsumer(runtime, c));
  const app = await createIngestApp(runtime, { logger: false });
  const fastify = app.getHttpAdapter().getInstance();
  const apiKey = await testApiKey(runtime.apiKeys);

  return {
    runtime,
    app,
    apiKey,
    inject: withApiKey((o) => fastify.inject(o), apiKey),
    async snapshot() {
      // a 4xx read must not have recorded an access either: flush what is pending into the bus first
      await runtime.useCases.access.flush();
      const blobs: string[] = [];
      for await (const blob of runtime.content.list('')) blobs.push(`${blob.path}@${blob.etag}`);
      const bus = (await runtime.busAdmin.stats()).map(
        (s) => `${s.subscription}:${s.active}:${s.deadLettered}`,
      );
      return {
        blobs: blobs.sort(),
        bus,
        catalog: await runtime.catalog.count(),
        indexed: await runtime.search.count(),
      };
    },
    async settle() {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const stats = await runtime.busAdmin.stats();
        if (
          stats.filter((s) => consumers.includes(s.subscription as ConsumerName)).every((s) => s.active === 0)
        )
          return;
        if (Date.now() > deadline) throw new Error(`consumers did not catch up: ${JSON.stringify(stats)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    takeErrorLogs: () => errorLogs.splice(0),
    async close() {
      await app.close();
      await Promise.all(subscriptions.map((s) => s.close(5_000)));
      await runtime.close();
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
}

/**
 * Fixed seed (FUZZ_SEED overrides it, to explore) and a bounded number of runs (FUZZ_RUNS_FACTOR scales every
 * property's count); on failure fast-check prints the seed, the replay path and the counterexample.
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20240611);
export const fuzzParams = (numRuns: number): fc.Parameters<unknown> => ({
  seed: FUZZ_SEED,
  numRuns: Math.max(1, Math.round(numRuns * Number(process.env.FUZZ_RUNS_FACTOR ?? 1))),
  endOnFailure: false,
  verbose: 1,
});

/** Anything in a response body that would reveal internals: stack frames, file paths, SQL, driver names. */
export const LEAK_PATTERN =
  /\bat [^\s]+ \(|\bat .+:\d+:\d+|node_modules|\.(?:ts|js|mjs|cjs):\d+|\/tmp\/|twinstore-fuzz|\/work\/|[A-Za-z]:\\|SQLITE|sqlite3?|\bSELECT\b|\bINSERT\b|\bUPDATE .+ SET\b|\bDELETE FROM\b|\bsyntax error\b|\bfts5\b|TypeError|RangeError|ReferenceError|Maximum call stack|ENOENT|EACCES|EISDIR/i;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { path: string; message: string }[];
  [k: string]: unknown;
}

/**
 * Status below 500; a 4xx is an RFC 9457 problem whose `status` matches, and leaks nothing internal. `url` is
 * the request URL: what the caller sent may legitimately come back (`instance`, a leadId in `detail`, a
 * parameter name in `errors`), so it is taken out before looking for leaks.
 */
export function expectSafeResponse(
  res: LightMyRequestResponse,
  request: { method: string; url: string },
  context: () => string,
): void {
  expect(res.statusCode, context()).toBeLessThan(500);
  if (res.statusCode >= 400) expectProblemResponse(res, request, context);
}

export function expectProblemResponse(
  res: LightMyRequestResponse,
  request: { method: string; url: string },
  context: () => string,
): ProblemBody | undefined {
  expect(res.statusCode, context()).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, context()).toBeLessThan(500);
  expect(res.headers['content-type'], context()).toMatch(/^application\/problem\+json/);
  if (request.method === 'HEAD') return undefined; // no body on HEAD; the headers still say what it would be
  let body: ProblemBody;
  try {
    body = JSON.parse(res.body) as ProblemBody;
  } catch {
    throw new Error(`problem body is not JSON: ${res.body.slice(0, 200)} (${context()})`);
  }
  expect(body, context()).toMatchObject({
    type: expect.stringMatching(/^https:\/\/twinstore\.dev\/problems\/[a-z-]+$/),
    title: expect.any(String),
    status: res.statusCode,
  });
  expect(body.title.length, context()).toBeGreaterThan(0);
  const leak = findLeak(body, sentTokens(request.url));
  expect(leak, context()).toBeUndefined();
  return body;
}

/** Pieces of a URL a response may echo: path segments and query names and values, raw and decoded. */
export function sentTokens(url: string): string[] {
  const tokens = new Set<string>([url]);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  tokens.add(path);
  for (const seg of path.split('/')) tokens.add(seg).add(decode(seg));
  if (q !== -1) {
    for (const pair of url.slice(q + 1).split('&')) {
      for (const part of pair.split('=')) tokens.add(part).add(decode(part));
    }
  }
  return [...tokens].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
}

/** The first string in `body` that still matches LEAK_PATTERN once every echoed token is removed. */
export function findLeak(body: unknown, echoed: string[]): string | undefined {
  const strings: string[] = [];
  const walk = (v: unknown, key?: string) => {
    if (key === 'instance') return; // the request path, by definition
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(body);
  for (const s of strings) {
    let rest = s;
    for (const t of echoed) rest = rest.split(t).join(' ');
    if (LEAK_PATTERN.test(rest)) return s.slice(0, 300);
  }
  return undefined;
}

/** A short, printable description of a request for failure messages. */
export function describeRequest(o: {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  payload?: unknown;
}): string {
  const payload =
    o.payload === undefined
      ? ''
      : Buffer.isBuffer(o.payload)
        ? `<${o.payload.length} bytes> ${JSON.stringify(o.payload.subarray(0, 120).toString('latin1'))}`
        : JSON.stringify(String(o.payload).slice(0, 200));
  const headers = JSON.stringify(o.headers ?? {}).slice(0, 300);
  return `${o.method} ${String(o.url).slice(0, 300)} headers=${headers} payload=${payload}`;
}

/** A leadId the domain accepts: 1-128 of [A-Za-z0-9_-], first a letter or digit. */
const ID_HEAD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_TAIL = `${ID_HEAD}_-`;
export const validLeadIdArb: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...ID_HEAD),
      fc.string({ unit: fc.constantFrom(...ID_TAIL), maxLength: 127, size: 'medium' }),
    )
    .map(([h, t]) => h + t),
  fc.uuid(),
  fc
    .tuple(
      fc.constantFrom(...ID_HEAD),
      fc.string({ unit: fc.constantFrom(...ID_TAIL), minLength: 127, maxLength: 127 }),
    )
    .map(([h, t]) => h + t),
);

/** Strings biased towards text-handling edge cases: line endings, NUL, BOM, emoji, fences, combining marks. */
export const trickyPieceArb: fc.Arbitrary<string> = fc.constantFrom(
  '\r\n',
  '\r',
  '\n',
  '\0',
  '\uFEFF',
  '---',
  '---\n',
  '---\r\n',
  '...\n',
  '+++\n',
  '\t',
  ' ',
  '🧑‍🚀',
  '👩🏽‍💻',
  '🇦🇺',
  'e\u0301',
  '\u200B',
  '\u2028',
  '\u2029',
  '\u00A0',
  '\uFFFD',
  '\uFFFF',
  '\u{10FFFF}',
  '\u{1F600}',
  '"',
  '\\',
  '#',
  '`',
  '<script>',
  'é',
  'ß',
  'Ω',
  '中文',
  'العربية',
  '{{',
  '}}',
  '%00',
  '&amp;',
  'key: value\n',
  'age: 41\n',
  '- item\n',
);

/** Well-formed Unicode text (no lone surrogates) mixing arbitrary code points with tricky pieces. */
export const markdownTextArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
      { weight: 3, arbitrary: trickyPieceArb },
      { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }) },
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));
