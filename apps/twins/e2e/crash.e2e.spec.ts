/**
 * Crash safety of the embedded profile (file-system blobs + SQLite), with the services as separate processes
 * on one data directory:
 *
 * 1. A load client puts COUNT twins with retries (same Idempotency-Key on every retry) while a supervisor
 *    SIGKILLs ingest-api, writer, indexer and cache-warmer at seeded random moments and restarts them. After a
 *    clean restart and a drained bus: every twin that got a 202 reads back byte-exact at its version, and the
 *    catalog, the search index and the pointers hold exactly the accepted twins, each once.
 * 2. SIGKILLs of ingest-api in the middle of writing large blobs leave no torn object file: every object is
 *    absent or complete (sha256 = its name), temp files are never content, and the next start removes them.
 *
 * Replay a failure with the seed it logged: TWINS_CRASH_SEED=<seed> npx vitest run apps/twins/e2e/crash.e2e.spec.ts
 * (TWINS_CRASH_COUNT=<n> changes the number of twins, for a quicker local run).
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePersona, Random } from '@twinstore/personas';
import { Adapters, closeAdapters, createAdapters, embeddedLayout, loadConfig } from '@twinstore/platform';
import {
  buildAppsForTest,
  createTestApiKey,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  startRedisServer,
  TempDir,
  waitFor,
} from '@twinstore/testing';
import { TwinsHttpClient, TwinsHttpError } from '../src/http-client';

const SEED = process.env.TWINS_CRASH_SEED ? Number(process.env.TWINS_CRASH_SEED) : randomInt(1, 2 ** 31);
const COUNT = Number(process.env.TWINS_CRASH_COUNT ?? 5000);
const CONCURRENCY = 24;
const KILLS_PER_SERVICE = 3;
/** Kills happen between these shares of the load (by 202s received). */
const KILL_WINDOW = [0.05, 0.85] as const;
const PERSONA_SEED = 500_000;
const PERSONA_SIZE = { minBytes: 512, maxBytes: 2048 };
const WORKERS = ['writer', 'indexer', 'cache-warmer', 'tiering'] as const;
const KILLED = ['ingest-api', 'writer', 'indexer', 'cache-warmer'] as const;
type ServiceName = 'ingest-api' | (typeof WORKERS)[number];
type Killed = (typeof KILLED)[number];

const log = (line: string) => console.log(`[crash seed=${SEED}] ${line}`);

/**
 * The one place this spec gets its API key: minted in the store the services read (the data directory), before
 * they start, so the ingest API creates no first-start key of its own. Every HTTP call below goes through
 * `headers(apiKey)` or a TwinsHttpClient built with `apiKey`.
 */
async function obtainApiKey(env: Record<string, string>): Promise<string | undefined> {
  return createTestApiKey(env);
}

const headers = (apiKey: string | undefined): Record<string, string> =>
  apiKey ? { authorization: `Bearer ${apiKey}` } : {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the five services, SIGKILLs and restarts them on demand, and counts what it did. */
class Supervisor {
  readonly procs = new Map<ServiceName, ServiceProcess>();
  readonly kills: Record<Killed, number> = { 'ingest-api': 0, writer: 0, indexer: 0, 'cache-warmer': 0 };
  readonly downtimeMs: Record<Killed, number[]> = {
    'ingest-api': [],
    writer: [],
    indexer: [],
    'cache-warmer': [],
  };
  /** Output of every process that ended, for the failure message. */
  readonly ended: string[] = [];
  private readonly generation = new Map<ServiceName, number>();
  private readonly chains = new Map<ServiceName, Promise<void>>();

  constructor(
    private readonly buildDir: string,
    private readonly env: Record<string, string>,
    readonly urls: Record<ServiceName, string>,
    private readonly managementPorts: Record<ServiceName, number | undefined>,
  ) {}

  start(name: ServiceName): void {
    const gen = (this.generation.get(name) ?? 0) + 1;
    this.generation.set(name, gen);
    const port = this.managementPorts[name];
    const env = port === undefined ? this.env : { ...this.env, TWINS_MANAGEMENT_PORT: String(port) };
    this.procs.set(name, spawnService(this.buildDir, name, [], env, `${name}#${gen}`));
  }

  async waitReady(name: ServiceName, timeoutMs = 60_000): Promise<void> {
    const url = `${this.urls[name]}/readyz`;
    try {
      await waitFor(`${name} ready`, async () => (await fetch(url)).status === 200, timeoutMs, 50);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.tails()}`);
    }
  }

  /** SIGKILL now, stay down for `downMs`, start again (queued behind an earlier kill of the same service). */
  kill(name: Killed, downMs: number): Promise<void> {
    const run = async () => {
      const proc = this.procs.get(name)!;
      const t0 = performance.now();
      await proc.stop('SIGKILL');
      this.kills[name]++;
      this.ended.push(`--- ${proc.name} (SIGKILL)\n${proc.output().slice(-1500)}`);
      await sleep(downMs);
      this.start(name);
      await this.waitReady(name);
      this.downtimeMs[name].push(Math.round(performance.now() - t0));
    };
    const next = (this.chains.get(name) ?? Promise.resolve()).then(run);
    this.chains.set(name, next);
    return next;
  }

  async settled(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  /** Stops every service with `signal`; the exit codes by service. */
  async stopAll(signal: NodeJS.Signals): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    await Promise.all(
      [...this.procs].map(async ([name, proc]) => {
        codes[name] = await proc.stop(signal);
        this.ended.push(`--- ${proc.name} (${signal})\n${proc.output().slice(-1500)}`);
      }),
    );
    return codes;
  }

  tails(): string {
    return [...this.procs.values()].map((s) => `--- ${s.name}\n${s.output().slice(-2000)}`).join('\n');
  }
}

/** Opens the stores through the services' own composition; closes them after `use`. */
async function withStores<T>(env: Record<string, string>, use: (s: Adapters) => Promise<T>): Promise<T> {
  const stores = await createAdapters(loadConfig(env), pino({ level: 'silent' }));
  try {
    return await use(stores);
  } finally {
    await closeAdapters(stores);
  }
}

interface ObjectAudit {
  objects: number;
  /** Object files whose bytes do not hash to their name. */
  torn: string[];
  /** Files under objects/ that are not named by a sha256 (a temp file in the wrong place, say). */
  strays: string[];
  tempFiles: string[];
}

/** Every file under the content root's objects/ and tmp/: is each object complete and hash-correct? */
async function auditObjects(blobsDir: string): Promise<ObjectAudit> {
  const audit: ObjectAudit = { objects: 0, torn: [], strays: [], tempFiles: [] };
  const objectsDir = join(blobsDir, 'objects');
  for (const shard of await readdir(objectsDir)) {
    for (const name of await readdir(join(objectsDir, shard))) {
      const hex = shard + name;
      if (!/^[0-9a-f]{64}$/.test(hex)) {
        audit.strays.push(`${shard}/${name}`);
        continue;
      }
      audit.objects++;
      const body = await readFile(join(objectsDir, shard, name));
      if (createHash('sha256').update(body).digest('hex') !== hex) audit.torn.push(hex);
    }
  }
  audit.tempFiles = await readdir(join(blobsDir, 'tmp'));
  return audit;
}

/** Every blob the store lists reads back whole: its bytes match the sha256 its writer recorded. */
async function auditBlobs(content: Adapters['content'], prefix: string) {
  let blobs = 0;
  const bad: string[] = [];
  for await (const props of content.list(prefix)) {
    if (props.path.startsWith('digital-twins/metadata/')) continue;
    blobs++;
    const got = await content.get(props.path);
    const sha = got && createHash('sha256').update(got.body).digest('hex');
    if (!got || got.body.length !== props.size || sha !== props.metadata.sha256) bad.push(props.path);
  }
  return { blobs, bad };
}

describe(`crash safety on the embedded profile (seed ${SEED})`, () => {
  let buildDir: string;
  let dataDir: TempDir;
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let env: Record<string, string>;
  let supervisor: Supervisor;
  let apiKey: string | undefined;
  let baseUrl: string;

  beforeAll(async () => {
    log(`replay with TWINS_CRASH_SEED=${SEED}`);
    buildDir = buildAppsForTest('e2e-crash');
    dataDir = await makeTempDir('twins-crash-');
    redis = await startRedisServer();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      TWINS_DATA_DIR: dataDir.dir,
      TWINS_PORT: String(port),
      TWINS_REDIS_URL: redis.url,
      TWINS_LOG_LEVEL: 'warn',
      TWINS_ACCESS_FLUSH_MS: '200',
      TWINS_BODY_LIMIT_BYTES: String(16 * 1024 * 1024),
    };
    const urls = { 'ingest-api': baseUrl } as Record<ServiceName, string>;
    const managementPorts = { 'ingest-api': undefined } as Record<ServiceName, number | undefined>;
    for (const worker of WORKERS) {
      const management = await freePort();
      managementPorts[worker] = management;
      urls[worker] = `http://127.0.0.1:${management}`;
    }
    apiKey = await obtainApiKey(env);
    supervisor = new Supervisor(buildDir, env, urls, managementPorts);
    for (const name of ['ingest-api', ...WORKERS] as const) supervisor.start(name);
    for (const name of ['ingest-api', ...WORKERS] as const) await supervisor.waitReady(name);
  }, 180_000);

  afterAll(async () => {
    await supervisor?.stopAll('SIGKILL');
    await redis?.stop();
    await dataDir?.cleanup();
  });

  it(`loads ${COUNT} twins while ingest-api, writer, indexer and cache-warmer are SIGKILLed; nothing accepted is lost`, async () => {
    const t0 = performance.now();
    const random = new Random(SEED);
    const personas = Array.from({ length: COUNT }, (_, i) => generatePersona(PERSONA_SEED + i, PERSONA_SIZE));

    // The kill plan: for each service, KILLS_PER_SERVICE moments (by 202s received) and downtimes.
    const plan = KILLED.flatMap((name) =>
      Array.from({ length: KILLS_PER_SERVICE }, () => ({
        name,
        at: Math.floor(COUNT * (KILL_WINDOW[0] + random.next() * (KILL_WINDOW[1] - KILL_WINDOW[0]))),
        jitterMs: random.int(0, 250),
        downMs: random.int(0, 1500),
        done: false,
      })),
    ).sort((a, b) => a.at - b.at);
    log(`kill plan: ${plan.map((p) => `${p.name}@${p.at}+${p.jitterMs}ms/down ${p.downMs}ms`).join(', ')}`);

    // The load client: the CLI's own TwinsHttpClient, retrying network failures, 429 and 503 with the same
    // Idempotency-Key, and (here) a 409 "in flight" after its Retry-After, also with the same key.
    const retries = { network: 0, status: 0, inFlight409: 0 };
    const client = new TwinsHttpClient({
      baseUrl,
      apiKey,
      maxAttempts: 10_000,
      baseDelayMs: 50,
      maxDelayMs: 1000,
      timeoutMs: 30_000,
      onRetry: (info) => (typeof info.reason === 'number' ? retries.status++ : retries.network++),
    });
    const accepted = new Map<string, { version: string; bytes: Buffer; attempts: number }>();
    const failures: string[] = [];
    let next = 0;
    const loadDeadline = Date.now() + 240_000;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= COUNT) return;
        const p = personas[i];
        const idempotencyKey = randomUUID();
        for (let attempt = 1; ; attempt++) {
          try {
            const res = await client.putTwin(
              p.leadId,
              { markdown: p.markdown, metadata: p.metadata },
              { idempotencyKey },
            );
            accepted.set(p.leadId, {
              version: res.version,
              bytes: Buffer.from(p.markdown, 'utf8'),
              attempts: res.attempts,
            });
            break;
          } catch (e) {
            const inFlight = e instanceof TwinsHttpError && e.status === 409;
            if (!inFlight || Date.now() > loadDeadline) {
              failures.push(`${p.leadId}: ${(e as Error).message}`);
              break;
            }
            retries.inFlight409++;
            await sleep(1000);
          }
        }
      }
    };

    let loading = true;
    const kills: Promise<void>[] = [];
    const supervise = async () => {
      while (loading) {
        for (const p of plan) {
          if (p.done || accepted.size < p.at) continue;
          p.done = true;
          kills.push(sleep(p.jitterMs).then(() => supervisor.kill(p.name, p.downMs)));
        }
        await sleep(20);
      }
    };
    const supervising = supervise();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const loadMs = performance.now() - t0;
    loading = false;
    await supervising;
    await Promise.all(kills);
    await supervisor.settled();
    log(
      `load: ${accepted.size} accepted (202), ${failures.length} failed in ${(loadMs / 1000).toFixed(1)} s; ` +
        `retries: ${retries.network} network, ${retries.status} 429/503, ${retries.inFlight409} 409 in-flight; ` +
        `kills: ${JSON.stringify(supervisor.kills)}; downtimes ms: ${JSON.stringify(supervisor.downtimeMs)}`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    // The ingest-api kills cut requests off mid-flight, and the client got through by retrying.
    expect(retries.network).toBeGreaterThan(0);
    for (const name of KILLED) expect(supervisor.kills[name], name).toBe(KILLS_PER_SERVICE);

    // Restart everything cleanly, then wait until every subscription is drained.
    const t1 = performance.now();
    await supervisor.stopAll('SIGTERM');
    for (const name of ['ingest-api', ...WORKERS] as const) supervisor.start(name);
    for (const name of ['ingest-api', ...WORKERS] as const) await supervisor.waitReady(name);
    const drained = await withStores(env, async (stores) => {
      try {
        return await waitFor(
          'the bus to drain',
          async () => {
            const stats = await stores.bus.stats();
            return stats.every((s) => s.active === 0) && stats;
          },
          150_000,
          250,
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}: ${JSON.stringify(await stores.bus.stats())}`);
      }
    });
    log(`drained ${(performance.now() - t1) / 1000} s after the clean restart: ${JSON.stringify(drained)}`);
    for (const s of drained) expect(s.deadLettered, `dead letters of ${s.subscription}`).toBe(0);

    // Every 202 reads back byte-exact, at the version its 202 named.
    const mismatches: string[] = [];
    const entries = [...accepted];
    let cursor = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (cursor < entries.length) {
          const [leadId, want] = entries[cursor++];
          const res = await fetch(`${baseUrl}/v1/twins/${leadId}`, { headers: headers(apiKey) });
          const body = Buffer.from(await res.arrayBuffer());
          if (res.status !== 200) mismatches.push(`${leadId}: HTTP ${res.status}`);
          else if (!body.equals(want.bytes)) mismatches.push(`${leadId}: bytes differ`);
          else if (res.headers.get('etag') !== `"${want.version}"`) {
            mismatches.push(`${leadId}: etag ${res.headers.get('etag')}, 202 said ${want.version}`);
          }
        }
      }),
    );
    expect(mismatches.slice(0, 10), `${mismatches.length} twins not read back`).toEqual([]);

    // The projections hold exactly the accepted twins, each once.
    const leadIds = [...accepted.keys()].sort();
    await withStores(env, async (stores) => {
      expect(await stores.catalog.count()).toBe(accepted.size);
      expect(await stores.search.count()).toBe(accepted.size);
      const pointers: string[] = [];
      for await (const b of stores.content.list('digital-twins/metadata/')) pointers.push(b.path);
      expect(pointers.length).toBe(accepted.size);
      const contentLeads = new Set<string>();
      for await (const b of stores.content.list('digital-twins/')) {
        if (!b.path.startsWith('digital-twins/metadata/')) contentLeads.add(b.metadata.leadid);
      }
      expect([...contentLeads].sort()).toEqual(leadIds);
      const blobs = await auditBlobs(stores.content, 'digital-twins/');
      expect(blobs.bad).toEqual([]);
    });
    const searchDb = new Database(embeddedLayout(dataDir.dir).search, { readonly: true });
    try {
      const rows = searchDb.prepare('SELECT lead_id, version FROM search_meta').all() as {
        lead_id: string;
        version: string;
      }[];
      const indexed = rows.map((r) => r.lead_id).sort();
      expect(new Set(indexed).size, 'a leadId indexed twice').toBe(indexed.length);
      expect(indexed).toEqual(leadIds);
      for (const r of rows) expect(r.version, r.lead_id).toBe(accepted.get(r.lead_id)!.version);
      // One indexed text per document (the contentless FTS index keeps one size row per rowid), no strays.
      expect(searchDb.prepare('SELECT count(*) FROM search_fts_docsize').pluck().get()).toBe(accepted.size);
      expect(
        searchDb
          .prepare('SELECT count(*) FROM search_fts_docsize WHERE id NOT IN (SELECT doc_id FROM search_meta)')
          .pluck()
          .get(),
      ).toBe(0);
    } finally {
      searchDb.close();
    }
    const rw = new Database(embeddedLayout(dataDir.dir).search);
    try {
      // Throws SQLITE_CORRUPT_VTAB when the FTS index is inconsistent.
      rw.prepare("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)").run();
    } finally {
      rw.close();
    }
    const searched = (await (
      await fetch(`${baseUrl}/v1/search?top=1`, { headers: headers(apiKey) })
    ).json()) as { total: number };
    expect(searched.total).toBe(accepted.size);

    const audit = await auditObjects(embeddedLayout(dataDir.dir).blobs);
    expect(audit.torn).toEqual([]);
    expect(audit.strays).toEqual([]);
    const attempts = [...accepted.values()].map((a) => a.attempts);
    log(
      `verified ${accepted.size} twins: catalog, index and pointers = ${accepted.size}, nothing lost, ` +
        `${attempts.filter((a) => a > 1).length} twins needed more than one attempt (max ${Math.max(...attempts)}); ` +
        `${audit.objects} objects, ${audit.tempFiles.length} temp files left; total ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 420_000);

  it('SIGKILLs of ingest-api while it writes large blobs leave no torn file, and a restart clears the temp files', async () => {
    const t0 = performance.now();
    const random = new Random(SEED ^ 0x5bd1e995);
    // At least 2 kills; up to 5 until one has landed while a blob was being written (a temp file is left).
    const MIN_ROUNDS = 2;
    const MAX_ROUNDS = 5;
    const blobsDir = embeddedLayout(dataDir.dir).blobs;
    // Only the content store matters here: the workers would spend the shared CPU indexing megabytes.
    await Promise.all(WORKERS.map((name) => supervisor.procs.get(name)!.stop('SIGTERM')));
    const accepted = new Map<string, { version: string; bytes: Buffer }>();
    let unanswered = 0;
    let tempFilesAfterKills = 0;
    let round = 0;
    for (; round < MAX_ROUNDS && (round < MIN_ROUNDS || tempFilesAfterKills === 0); round++) {
      // 6 writers of 1-4 MB twins; SIGKILL after a seeded number of 202s and a seeded delay.
      let stop = false;
      let acks = 0;
      const killAfterAcks = random.int(2, 6);
      const writers = Array.from({ length: 6 }, async (_, w) => {
        for (let n = 0; !stop; n++) {
          const leadId = `large-${round}-${w}-${n}`;
          const size = randomInt(1024 * 1024, 4 * 1024 * 1024);
          // Random printable bytes (base64), so no two bodies share an object file.
          const markdown = `# ${leadId}\n${randomBytes(Math.ceil((size * 3) / 4)).toString('base64')}\n`;
          try {
            const res = await fetch(`${baseUrl}/v1/twins/${leadId}`, {
              method: 'PUT',
              headers: { ...headers(apiKey), 'content-type': 'text/markdown' },
              body: markdown,
            });
            if (res.status === 202) {
              const { version } = (await res.json()) as { version: string };
              accepted.set(leadId, { version, bytes: Buffer.from(markdown, 'utf8') });
              acks++;
            } else if (!stop) throw new Error(`PUT ${leadId}: HTTP ${res.status} ${await res.text()}`);
          } catch (e) {
            if (!stop) throw e;
            unanswered++;
          }
        }
      });
      await waitFor('some large twins accepted', async () => acks >= killAfterAcks, 120_000, 10);
      await sleep(random.int(0, 300));
      stop = true;
      await supervisor.procs.get('ingest-api')!.stop('SIGKILL');
      await Promise.all(writers);

      // With the writer dead: every object file is absent or complete; temp files are not content.
      const audit = await auditObjects(blobsDir);
      tempFilesAfterKills += audit.tempFiles.length;
      expect(audit.torn).toEqual([]);
      expect(audit.strays).toEqual([]);

      // The restarted service clears the dead writer's temp files when it opens the store.
      supervisor.start('ingest-api');
      await supervisor.waitReady('ingest-api');
      expect((await auditObjects(blobsDir)).tempFiles).toEqual([]);
    }

    // Everything accepted reads back whole; every listed blob matches its recorded sha256.
    for (const [leadId, { version, bytes }] of accepted) {
      const res = await fetch(`${baseUrl}/v1/twins/${leadId}?minVersion=${version}`, {
        headers: headers(apiKey),
      });
      expect(res.status, leadId).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes), leadId).toBe(true);
    }
    await withStores(env, async (stores) => {
      expect((await auditBlobs(stores.content, 'digital-twins/')).bad).toEqual([]);
    });
    log(
      `large writes: ${accepted.size} accepted, ${unanswered} requests cut off by ${round} SIGKILLs, ` +
        `${tempFilesAfterKills} temp files found after the kills, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 240_000);
});
