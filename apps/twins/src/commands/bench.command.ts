import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { rawFts5InsertRate } from '@twinstore/adapters-embedded';
import { generatePersona, Persona } from '@twinstore/personas';
import { loadConfig, mintApiKey } from '@twinstore/platform';
import { latencySummary, loadCommand } from './load.command';

export interface BenchArgs {
  count: number;
  concurrency: number;
  queries: number;
  out?: NodeJS.WritableStream;
}

/**
 * `twins bench`: end-to-end ingest throughput (HTTP 202 until every projection caught up) beside the raw
 * FTS5 insert rate of the same documents measured in the same run, then search latency at that size.
 * The system runs as its own process (`twins start all`), as users run it; the loader is this process.
 */
export async function benchCommand(args: BenchArgs): Promise<void> {
  const out = args.out ?? process.stdout;
  const say = (s: string) => out.write(`${s}\n`);
  const work = mkdtempSync(join(tmpdir(), 'twins-bench-'));
  const personas = Array.from({ length: args.count }, (_, i) => generatePersona(1 + i));
  const totalBytes = personas.reduce((n, p) => n + Buffer.byteLength(p.markdown), 0);
  say(
    `twinstore benchmark: ${args.count} personas, ${(totalBytes / 1e6).toFixed(1)} MB of markdown, concurrency ${args.concurrency}`,
  );

  // (a) the raw ceiling: a bare FTS5 table, the same documents, transactions of 1000
  const raw = rawFts5InsertRate(
    join(work, 'raw.db'),
    personas.map((p) => ({ id: p.leadId, markdown: p.markdown })),
    1000,
  );

  // (b) the product end to end
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // a key of our own in the fresh data directory (the server then mints no first-start key)
  const apiKey = (
    await mintApiKey(loadConfig({ TWINS_DATA_DIR: join(work, 'data') }), { name: 'bench', scopes: ['admin'] })
  ).key;
  const headers = { authorization: `Bearer ${apiKey}` };
  const server = spawn(process.execPath, [process.argv[1], 'start', 'all'], {
    env: {
      ...process.env,
      TWINS_DATA_DIR: join(work, 'data'),
      TWINS_PORT: String(port),
      TWINS_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await until(async () => (await fetch(`${baseUrl}/readyz`)).ok, 30_000);
    const started = Date.now();
    const load = await loadCommand({
      baseUrl,
      count: args.count,
      concurrency: args.concurrency,
      seed: 1,
      apiKey,
      progress: false,
      out: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const acceptedMs = Date.now() - started;
    await until(async () => {
      const res = await fetch(`${baseUrl}/v1/search?top=1`, { headers });
      return res.ok && ((await res.json()) as { total: number }).total === load.accepted;
    }, 600_000);
    const last = personas[personas.length - 1];
    await until(
      async () => (await fetch(`${baseUrl}/v1/twins/${last.leadId}/metadata`, { headers })).ok,
      600_000,
    );
    const e2eMs = Date.now() - started;

    // (c) search latency at that size, one query at a time
    const samples: number[] = [];
    const filtered: number[] = [];
    for (let i = 0; i < args.queries; i++) {
      const q = queryFor(personas[(i * 7919) % personas.length], i);
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${baseUrl}/v1/search?${q.params}`, { headers });
      await res.arrayBuffer();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      (q.filtered ? filtered : samples).push(ms);
    }
    const text = latencySummary(samples);
    const withFilters = latencySummary(filtered);
    const e2eRate = (load.accepted * 1000) / e2eMs;
    say('');
    say('ingest                                   twins/s   elapsed');
    say(
      `raw FTS5 insert (baseline)              ${fmt(raw.docsPerSecond)}   ${(raw.elapsedMs / 1000).toFixed(1)} s`,
    );
    say(
      `HTTP 202 accepted                        ${fmt((load.accepted * 1000) / acceptedMs)}   ${(acceptedMs / 1000).toFixed(1)} s`,
    );
    say(`end to end (all projections caught up)  ${fmt(e2eRate)}   ${(e2eMs / 1000).toFixed(1)} s`);
    say(`end to end / raw FTS5                    ${(e2eRate / raw.docsPerSecond).toFixed(2)}x`);
    say(
      `PUT latency p50/p95/p99                  ${load.latencyMs.p50.toFixed(1)} / ${load.latencyMs.p95.toFixed(1)} / ${load.latencyMs.p99.toFixed(1)} ms`,
    );
    say('');
    say(`search over ${load.accepted} twins (HTTP, one at a time)   p50       p99`);
    say(
      `text, 1-2 terms                               ${text.p50.toFixed(1).padStart(5)} ms  ${text.p99.toFixed(1).padStart(6)} ms`,
    );
    say(
      `text + filters + facets                       ${withFilters.p50.toFixed(1).padStart(5)} ms  ${withFilters.p99.toFixed(1).padStart(6)} ms`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(work, { recursive: true, force: true });
  }
}

const fmt = (n: number) => n.toFixed(0).padStart(7);

/** A 1-2 term query made of words of a real persona; every other one adds filters and facets. */
function queryFor(p: Persona, i: number): { params: string; filtered: boolean } {
  const words = (p.markdown.match(/\p{L}{5,}/gu) ?? ['insurance']).filter((_, j) => j % 13 === i % 13);
  const terms = words.slice(0, 1 + (i % 2)).join(' ') || 'insurance';
  const filtered = i % 2 === 1;
  const params = new URLSearchParams({ q: terms, top: '20' });
  if (filtered) {
    params.set('classification', p.metadata.classification);
    params.set('minAge', String(Math.max(0, p.metadata.age - 10)));
    params.set('facets', 'classification,location,tags');
  }
  return { params: params.toString(), filtered };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
