/**
 * The azure profile end to end against local stand-ins, beside the raw Azurite upload rate of the same
 * documents, in one run:
 *
 *   node tools/build.mjs --quiet && node tools/run-bench.mjs bench/azure-pipeline.bench.ts [--count 2000]
 *     [--concurrency 16] [--batch 100 | --single] [--consumer-batch 100] [--redis] [--consumer-concurrency 16]
 *     [--main dist/apps/twins/main.js]
 *
 * 1. Starts Azurite (blob + table), cosmosdb-server, the AI Search test server and the Service Bus test broker
 *    in this process (and a redis-server with --redis; otherwise the system uses its in-memory cache, which is
 *    right for `start all`, one process).
 * 2. Raw baseline: uploads the N persona markdown bodies with the plain `@azure/storage-blob` SDK
 *    (`uploadData`, C in flight) into a container of its own.
 * 3. Pipeline: `node dist/apps/twins/main.js start all` as a child process on the azure profile, pointed at
 *    the stand-ins; loads the same N personas through HTTP with `loadCommand` (C in flight), then waits until
 *    the projections caught up (search total = N and the last twin's metadata readable).
 * 4. Prints the rates, the ratios to the raw baseline and the request latency, then the billable operations
 *    per twin (`twins_billable_operations_total` on the system's /metrics, from the first request until every
 *    subscription is drained, the benchmark's own polling subtracted) beside the minimum the design needs
 *    (`designMinimum` below), then stops everything.
 *
 * The test servers are imported by relative path: the `@twinstore/testing` barrel re-exports vitest contract
 * suites, and vitest refuses to load outside its runner.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { CONSUMER_NAMES } from '@twinstore/application';
import { TOPIC } from '@twinstore/contracts';
import { generatePersona } from '@twinstore/personas';
import { loadConfig, mintApiKey } from '@twinstore/platform';
import { processTreeNow, scrapeProcessTree } from '../apps/twins/src/commands/bench.command';
import { latencySummary, loadCommand, LoadSummary } from '../apps/twins/src/commands/load.command';
import { startAzurite, startCosmosServer } from '../libs/testing/src/azure-servers';
import { freePort } from '../libs/testing/src/free-port';
import { startRedisServer } from '../libs/testing/src/redis-server';
import { startSearchTestServer } from '../libs/testing/src/search-server';
import { startServiceBusTestBroker } from '../libs/testing/src/service-bus-broker';

interface Args {
  count: number;
  concurrency: number;
  /** Twins per `POST /v1/twins:batch`; 0: one PUT per twin. */
  batch: number;
  /** Messages a consumer takes at a time (for the minimum of Table transactions; the system's own setting). */
  consumerBatch: number;
  redis: boolean;
  consumerConcurrency?: number;
  main: string;
}

const RAW_CONTAINER = 'raw-baseline';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function parseArgs(argv: string[]): Args {
  const args: Args = {
    count: 2000,
    concurrency: 16,
    batch: 100,
    consumerBatch: 100,
    redis: false,
    // tools/run-bench.mjs runs the bundle with the repository as working directory
    main: resolve('dist', 'apps', 'twins', 'main.js'),
  };
  const int = (flag: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${flag} must be an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--count') args.count = int(flag, argv[++i], 1);
    else if (flag === '--concurrency') args.concurrency = int(flag, argv[++i], 1);
    else if (flag === '--consumer-concurrency') args.consumerConcurrency = int(flag, argv[++i], 1);
    else if (flag === '--batch') args.batch = int(flag, argv[++i], 1);
    else if (flag === '--single') args.batch = 0;
    else if (flag === '--consumer-batch') args.consumerBatch = int(flag, argv[++i], 1);
    else if (flag === '--redis') args.redis = true;
    else if (flag === '--main') args.main = resolve(argv[++i] ?? '');
    else throw new RangeError(`unknown argument ${flag}`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (s = '') => process.stdout.write(`${s}\n`);
  const note = (s: string) => process.stderr.write(`${s}\n`);
  if (!existsSync(args.main)) {
    throw new Error(`${args.main} not found: build first (node tools/build.mjs --quiet)`);
  }

  const personas = Array.from({ length: args.count }, (_, i) => generatePersona(1 + i));
  const bodies = personas.map((p) => Buffer.from(p.markdown, 'utf8'));
  const totalBytes = bodies.reduce((n, b) => n + b.length, 0);
  say(
    `twinstore azure-profile benchmark: ${args.count} personas, ${(totalBytes / 1e6).toFixed(1)} MB of markdown, ` +
      `${args.batch > 0 ? `POST /v1/twins:batch of ${args.batch}` : 'one PUT per twin'}, ` +
      `concurrency ${args.concurrency}, node ${process.version}, ${cpuCount()} cores, ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );

  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const work = mkdtempSync(join(tmpdir(), 'twins-azure-bench-'));
  let system: ChildProcess | undefined;
  const stopAll = async () => {
    if (system) await stopChild(system);
    system = undefined;
    for (const s of stops.splice(0).reverse()) {
      await s.stop().catch((e: unknown) => note(`stopping ${s.name}: ${String(e)}`));
    }
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    note(`${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // 1. the stand-ins, in this process
    const t0 = Date.now();
    const azurite = await startAzurite();
    stops.push({ name: 'azurite', stop: azurite.stop });
    const cosmos = await startCosmosServer();
    stops.push({ name: 'cosmosdb-server', stop: cosmos.stop });
    const search = await startSearchTestServer();
    stops.push({ name: 'search test server', stop: search.stop });
    const bus = await startServiceBusTestBroker();
    stops.push({ name: 'service bus test broker', stop: bus.stop });
    const redis = args.redis ? await startRedisServer() : undefined;
    if (redis) stops.push({ name: 'redis-server', stop: redis.stop });
    note(
      `stand-ins up in ${Date.now() - t0} ms: blob ${azurite.blobEndpoint}, table ${azurite.tableEndpoint}, ` +
        `cosmos ${cosmos.endpoint}, search ${search.endpoint}, service bus amqp://127.0.0.1:${bus.port}` +
        (redis ? `, redis ${redis.url}` : ''),
    );

    // 2. raw baseline: the plain SDK, the same bodies, C uploads in flight
    const raw = await rawUploadRate(azurite.connectionString, personas, bodies, args.concurrency);
    note(`raw Azurite: ${raw.uploaded} uploads in ${(raw.elapsedMs / 1000).toFixed(1)} s`);

    // 3. the pipeline: `twins start all` on the azure profile, loaded over HTTP
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('TWINS_')),
    );
    Object.assign(env, {
      TWINS_PROFILE: 'azure',
      TWINS_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      TWINS_AZURE_COSMOS_ENDPOINT: cosmos.endpoint,
      TWINS_AZURE_COSMOS_KEY: cosmos.key,
      TWINS_AZURE_SEARCH_ENDPOINT: search.endpoint,
      TWINS_AZURE_SEARCH_KEY: search.apiKey,
      TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: bus.connectionString,
      TWINS_AZURE_ALLOW_INSECURE: 'true',
      TWINS_PORT: String(port),
      TWINS_LOG_LEVEL: 'warn',
      // not used by the azure profile; keeps any stray file out of the repo
      TWINS_DATA_DIR: join(work, 'data'),
      ...(redis ? { TWINS_REDIS_URL: redis.url } : {}),
      ...(args.consumerConcurrency ? { TWINS_CONSUMER_CONCURRENCY: String(args.consumerConcurrency) } : {}),
    });
    const output = new OutputTail('twins');
    const child = spawn(process.execPath, [args.main, 'start', 'all'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    system = child;
    output.attach(child);
    // Should this process die without stopAll (an uncaught error), the system must not outlive it.
    process.once('exit', () => {
      if (!exited(child)) child.kill('SIGKILL');
    });

    const readyStarted = Date.now();
    await until(
      async () => (await fetch(`${baseUrl}/readyz`)).ok,
      READY_TIMEOUT_MS,
      () => exited(child) && `the system exited (${child.exitCode ?? child.signalCode}) before it was ready`,
    ).catch((e: unknown) => {
      throw new Error(
        `azure-profile system not ready: ${e instanceof Error ? e.message : String(e)}\n${output.tail()}`,
      );
    });
    note(`system ready in ${Date.now() - readyStarted} ms (pid ${child.pid})`);
    // the azure profile mints no first-start key: one of our own, in the same Table Storage
    const twinsEnv = Object.fromEntries(
      Object.entries(env).filter(
        (e): e is [string, string] => e[0].startsWith('TWINS_') && e[1] !== undefined,
      ),
    );
    const apiKey = (await mintApiKey(loadConfig(twinsEnv), { name: 'bench', scopes: ['admin'] })).key;

    const cpu = () => cpuNow(child.pid);
    const billed0 = await billableOperations(child.pid!, apiKey);
    const cpu0 = cpu();
    const started = performance.now();
    const load = await loadCommand({
      baseUrl,
      count: args.count,
      concurrency: args.concurrency,
      batchSize: args.batch,
      seed: 1,
      apiKey,
      keepVersions: false,
      progress: false,
      out: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const acceptedMs = performance.now() - started;
    const cpu1 = cpu();
    note(
      `loaded: ${load.accepted} accepted, ${load.failed} failed, ${load.retries} retries in ` +
        `${(acceptedMs / 1000).toFixed(1)} s; PUT p50 ${load.latencyMs.p50.toFixed(0)} ms`,
    );
    for (const f of load.failures) note(`  failed ${f.leadId}: ${f.error}`);
    if (load.accepted === 0) throw new Error(`no twin was accepted\n${output.tail()}`);

    const caughtUp = await waitForProjections({
      baseUrl,
      apiKey,
      expected: load.accepted,
      lastLeadId: personas[personas.length - 1].leadId,
      started,
      timeoutMs: Math.max(120_000, args.count * 100),
      broker: bus.broker,
      child,
      cpu,
    }).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${output.tail()}`);
    });
    const handlers = await handlerTimes(child.pid!, apiKey);
    const billed = minusCounts(await billableOperations(child.pid!, apiKey), billed0);
    const pollCost = await pollingCost(baseUrl, child.pid!, apiKey, personas[personas.length - 1].leadId);
    report(say, {
      raw,
      load,
      acceptedMs,
      caughtUp,
      cpu: { accepted: minus(cpu1, cpu0), e2e: minus(caughtUp.cpu, cpu0) },
      handlers,
      redis: !!redis,
    });
    reportBillable(say, {
      twins: load.accepted,
      billed,
      polls: caughtUp.polls,
      pollCost,
      minimum: designMinimum({
        requestTwins: args.batch > 0 ? args.batch : 1,
        consumerBatch: args.consumerBatch,
        redis: !!redis,
      }),
      drained: caughtUp.drainedMs !== undefined,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

interface RawResult {
  uploaded: number;
  elapsedMs: number;
  latencies: number[];
  /** CPU of this process (Azurite and the SDK client) during the timed uploads. */
  cpu: Cpu;
}

/** CPU time in ms: this process (stand-ins + loader) and the system's process (undefined when unknown). */
interface Cpu {
  self: number;
  system?: number;
}

function cpuNow(systemPid?: number): Cpu {
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1000, system: childCpuMs(systemPid) };
}

function minus(a: Cpu, b: Cpu): Cpu {
  return {
    self: a.self - b.self,
    system: a.system !== undefined && b.system !== undefined ? a.system - b.system : undefined,
  };
}

/** `uploadData` of every body, `concurrency` in flight, after a short warm-up of the connections. */
async function rawUploadRate(
  connectionString: string,
  personas: { leadId: string }[],
  bodies: Buffer[],
  concurrency: number,
): Promise<RawResult> {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const container = service.getContainerClient(RAW_CONTAINER);
  await container.create();
  // The same path shape and content type as the content store writes.
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  const upload = (name: string, body: Buffer) =>
    container
      .getBlockBlobClient(name)
      .uploadData(body, { blobHTTPHeaders: { blobContentType: 'text/markdown; charset=utf-8' } });
  // Warm-up: open the keep-alive connections the timed run will use (the pipeline is warm after /readyz).
  await Promise.all(
    Array.from({ length: concurrency }, (_, i) => upload(`warm-up/${i}.md`, bodies[i % bodies.length])),
  );

  const latencies: number[] = [];
  let next = 0;
  const cpu0 = cpuNow();
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      const t0 = performance.now();
      await upload(`digital-twins/${day}/${personas[i].leadId}.md`, bodies[i]);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
  const elapsedMs = performance.now() - started;
  const cpu = minus(cpuNow(), cpu0);
  // Leave Azurite as the pipeline would find it: only its own container.
  await container.delete();
  return { uploaded: latencies.length, elapsedMs, latencies, cpu };
}

interface CaughtUp {
  /** From the first PUT until search total = accepted and the last twin's metadata is readable. */
  e2eMs: number;
  /** From the first PUT until every subscription has no active message (all four consumers done). */
  drainedMs?: number;
  deadLettered: number;
  /** CPU when the projections had caught up. */
  cpu: Cpu;
  /** Requests this benchmark made to find out (their billable operations are not the pipeline's). */
  polls: { search: number; metadata: number };
}

interface Broker {
  subscriptionCounts(
    topic: string,
    subscription: string,
  ): { active: number; locked: number; deadLettered: number };
}

/**
 * Polls the API until search reports every accepted twin and the last twin's metadata is readable (the
 * condition of `twins bench`); records, too, when the broker's four subscriptions are empty.
 */
async function waitForProjections(o: {
  baseUrl: string;
  apiKey: string;
  expected: number;
  lastLeadId: string;
  started: number;
  timeoutMs: number;
  broker: Broker;
  child: ChildProcess;
  cpu: () => Cpu;
}): Promise<CaughtUp> {
  const counts = () => CONSUMER_NAMES.map((name) => ({ name, ...o.broker.subscriptionCounts(TOPIC, name) }));
  const drained = () => counts().every((c) => c.active === 0);
  let total = -1;
  let metadata = 0;
  let drainedMs: number | undefined;
  let e2eMs: number | undefined;
  let cpu: Cpu | undefined;
  let lastNote = 0;
  const polls = { search: 0, metadata: 0 };
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (exited(o.child)) throw new Error(`the system exited (${o.child.exitCode ?? o.child.signalCode})`);
    if (drainedMs === undefined && drained()) drainedMs = performance.now() - o.started;
    if (e2eMs === undefined) {
      try {
        polls.search++;
        const res = await fetch(`${o.baseUrl}/v1/search?top=1`, {
          headers: { authorization: `Bearer ${o.apiKey}` },
        });
        total = res.ok ? ((await res.json()) as { total: number }).total : -res.status;
        if (total === o.expected) {
          polls.metadata++;
          metadata = (
            await fetch(`${o.baseUrl}/v1/twins/${o.lastLeadId}/metadata`, {
              headers: { authorization: `Bearer ${o.apiKey}` },
            })
          ).status;
          if (metadata === 200) {
            e2eMs = performance.now() - o.started;
            cpu = o.cpu();
          }
        }
      } catch {
        // the system is busy; ask again
      }
    }
    if (e2eMs !== undefined) {
      // Give the remaining consumers (cache-warmer, tiering) a bounded moment to finish, for the drain row.
      if (drainedMs !== undefined || performance.now() - o.started > e2eMs + 30_000) break;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `projections did not catch up within ${o.timeoutMs / 1000} s: search total ${total} of ${o.expected}, ` +
          `metadata of ${o.lastLeadId}: HTTP ${metadata || 'not asked'}; subscriptions: ${describe(counts())}`,
      );
    }
    if (Date.now() - lastNote > 5000) {
      lastNote = Date.now();
      process.stderr.write(`catching up: search total ${total}/${o.expected}; ${describe(counts())}\n`);
    }
    await sleep(100);
  }
  const deadLettered = counts().reduce((n, c) => n + c.deadLettered, 0);
  return { e2eMs: e2eMs!, drainedMs, deadLettered, cpu: cpu!, polls };
}

const describe = (counts: { name: string; active: number; deadLettered: number }[]) =>
  counts.map((c) => `${c.name} ${c.active} active, ${c.deadLettered} dead`).join('; ');

function report(
  say: (s?: string) => void,
  r: {
    raw: RawResult;
    load: LoadSummary;
    acceptedMs: number;
    caughtUp: CaughtUp;
    cpu: { accepted: Cpu; e2e: Cpu };
    handlers: Map<string, { sum: number; count: number }>;
    redis: boolean;
  },
): void {
  const rate = (n: number, ms: number) => (n * 1000) / ms;
  const rawRate = rate(r.raw.uploaded, r.raw.elapsedMs);
  const acceptedRate = rate(r.load.accepted, r.acceptedMs);
  const e2eRate = rate(r.load.accepted, r.caughtUp.e2eMs);
  const rawLatency = latencySummary(r.raw.latencies);
  const put = r.load.latencyMs;
  const perTwin = (c: Cpu, n: number) =>
    c.system === undefined
      ? `${(c.self / n).toFixed(1)} + ?`
      : `${((c.self + c.system) / n).toFixed(1)} = ${(c.self / n).toFixed(1)} + ${(c.system / n).toFixed(1)}`;
  const row = (label: string, value: string, elapsedMs?: number, cpu = '') =>
    say(
      `${label.padEnd(46)}${value.padStart(8)}${elapsedMs === undefined ? '' : `${(elapsedMs / 1000).toFixed(1).padStart(9)} s`}` +
        (cpu ? `   ${cpu}` : ''),
    );
  say('');
  say(
    `${'ingest'.padEnd(46)}${'twins/s'.padStart(8)}${'elapsed'.padStart(11)}   CPU ms per twin: all = bench + system`,
  );
  row(
    'raw Azurite uploadData (baseline)',
    rawRate.toFixed(0),
    r.raw.elapsedMs,
    `${(r.raw.cpu.self / r.raw.uploaded).toFixed(1)} (Azurite + SDK client)`,
  );
  row(
    'pipeline HTTP 202 accepted',
    acceptedRate.toFixed(0),
    r.acceptedMs,
    perTwin(r.cpu.accepted, r.load.accepted),
  );
  row(
    'pipeline end to end (projections caught up)',
    e2eRate.toFixed(0),
    r.caughtUp.e2eMs,
    perTwin(r.cpu.e2e, r.load.accepted),
  );
  if (r.caughtUp.drainedMs !== undefined) {
    row(
      'pipeline, all 4 subscriptions drained',
      rate(r.load.accepted, r.caughtUp.drainedMs).toFixed(0),
      r.caughtUp.drainedMs,
    );
  }
  row('pipeline 202 / raw', `${(acceptedRate / rawRate).toFixed(2)}x`);
  row('pipeline end to end / raw', `${(e2eRate / rawRate).toFixed(2)}x`);
  say('');
  say(`${'latency (ms)'.padEnd(46)}${'p50'.padStart(8)}${'p99'.padStart(9)}`);
  const lat = (label: string, p50: number, p99: number) =>
    say(`${label.padEnd(46)}${p50.toFixed(1).padStart(8)}${p99.toFixed(1).padStart(9)}`);
  lat(`pipeline ${r.load.requests < r.load.accepted ? 'batch POST' : 'PUT'} (to 202)`, put.p50, put.p99);
  lat('raw uploadData', rawLatency.p50, rawLatency.p99);
  for (const [name, h] of r.handlers) {
    say(
      `${`${name} handler, mean of ${h.count} batches`.padEnd(46)}${((h.sum * 1000) / h.count).toFixed(1).padStart(8)}`,
    );
  }
  say('');
  const e2eCpu = r.cpu.e2e.self + (r.cpu.e2e.system ?? 0);
  say(
    `accepted ${r.load.accepted}, failed ${r.load.failed}, client retries ${r.load.retries}, ` +
      `dead-lettered ${r.caughtUp.deadLettered}; cache: ${r.redis ? 'redis-server' : 'in-memory (one process)'}; ` +
      `until caught up the two processes used ${((100 * e2eCpu) / (r.caughtUp.e2eMs * cpuCount())).toFixed(0)}% ` +
      `of ${cpuCount()} cores; load average now ${loadavg()[0].toFixed(2)}`,
  );
  say('');
  say(
    [
      'What the numbers mean. Raw: one Put Blob per twin, nothing else. The pipeline answers 202 once the',
      "twins' blobs are written and their twin.saved.v1 events sent; the four consumers (writer, indexer,",
      'tiering, cache-warmer) project them meanwhile; the billable operations below say what that costs per twin.',
      'End to end: until search reports every twin and the last twin has metadata; drained: until the broker',
      'holds no active message. Every stand-in runs in this process with the loader (bench CPU), the system in',
      'its own (system CPU), on the same cores and beside whatever else the machine runs: read the rates as',
      'relative figures for our code path and the CPU ms per twin as the cost that carries over; this is not',
      "Azure throughput (there the services' work runs elsewhere and network round trips set the latency).",
    ].join('\n'),
  );
}

/** `service/operation` -> count, tiers summed. */
type Counts = Map<string, number>;

/**
 * `twins_billable_operations_total` of the system, tiers summed: over every process of it (`start all` may run
 * consumers as child processes, each with a /metrics of its own).
 */
async function billableOperations(systemPid: number, apiKey: string): Promise<Counts> {
  return parseBillable(
    (await scrapeProcessTree(systemPid, { authorization: `Bearer ${apiKey}` })).join('\n'),
  );
}

export function parseBillable(metrics: string): Counts {
  const counts: Counts = new Map();
  for (const [, labels, value] of metrics.matchAll(/^twins_billable_operations_total\{([^}]*)\} (\S+)$/gm)) {
    const label = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
    const key = `${label('service')}/${label('operation')}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(value));
  }
  return counts;
}

function minusCounts(a: Counts, b: Counts): Counts {
  const out: Counts = new Map();
  for (const [key, n] of a) if (n - (b.get(key) ?? 0) !== 0) out.set(key, n - (b.get(key) ?? 0));
  return out;
}

/**
 * What one poll of `waitForProjections` costs, measured once the system is idle: five search polls and five
 * metadata reads between two scrapes. The polls are the benchmark's, not the pipeline's: they are subtracted.
 */
async function pollingCost(
  baseUrl: string,
  systemPid: number,
  apiKey: string,
  leadId: string,
): Promise<{ search: Counts; metadata: Counts }> {
  const headers = { authorization: `Bearer ${apiKey}` };
  const per = async (request: () => Promise<unknown>): Promise<Counts> => {
    const before = await billableOperations(systemPid, apiKey);
    for (let i = 0; i < 5; i++) await request();
    const diff = minusCounts(await billableOperations(systemPid, apiKey), before);
    return new Map([...diff].map(([k, n]) => [k, n / 5]));
  };
  return {
    search: await per(() => fetch(`${baseUrl}/v1/search?top=1`, { headers }).then((r) => r.arrayBuffer())),
    metadata: await per(() =>
      fetch(`${baseUrl}/v1/twins/${leadId}/metadata`, { headers }).then((r) => r.arrayBuffer()),
    ),
  };
}

interface Minimum {
  perTwin: number;
  why: string;
}

/** Hash partitions of the tiering records in Table Storage (`activityPartitionKey`: the first byte of a SHA-256). */
const ACTIVITY_PARTITIONS = 256;

/**
 * The fewest billable operations per saved twin the design needs, in the units the counters count: a Blob
 * request, a Cosmos item operation (bulk requests bill every item), an indexed document, a Table request (an
 * entity group transaction of up to 100 entities of one partition is one), a Service Bus message (sent, received
 * or settled; one sendMessages call carries a whole batch), a Redis command. For a load of `requestTwins` twins
 * per request and consumers that take up to `consumerBatch` messages at a time. Anything not listed: 0.
 */
export function designMinimum(o: {
  requestTwins: number;
  consumerBatch: number;
  redis: boolean;
}): Map<string, Minimum> {
  // A batch of c leads spread over P hash partitions touches P(1 - (1 - 1/P)^c) of them on average; a Table
  // transaction holds one partition, so that is the number of transactions per batch.
  const partitionsTouched =
    ACTIVITY_PARTITIONS * (1 - (1 - 1 / ACTIVITY_PARTITIONS) ** Math.min(o.consumerBatch, 100));
  const tiering = partitionsTouched / Math.min(o.consumerBatch, 100);
  const idempotency = 2 / o.requestTwins;
  const consumers = CONSUMER_NAMES.length;
  const rows: [string, number, string][] = [
    [
      'blob/write',
      2,
      "the version's content blob (the source of truth) and the lead's pointer blob, each created with a condition",
    ],
    ['blob/other', 0, 'no HEAD / Get Properties: a conditional create answers "exists" itself'],
    [
      'blob/read',
      0,
      'consumers take the markdown inline from the message (up to 96 KiB; personas are 2-40 KB)',
    ],
    [
      'cosmos/write',
      1,
      'one catalog upsert, its version guard a condition of the write (bulk bills every item)',
    ],
    ['cosmos/read', 0, 'no read before the write, no tombstone reads when the write carries the guard'],
    ['search/index', 1, 'one document, in indexDocuments calls of up to 1000 (1/1000 of a call)'],
    ['search/query', 0, "no version lookup before the upload (the document's version guards it)"],
    [
      'table/transaction',
      tiering + idempotency,
      `tiering ${tiering.toFixed(2)} (batches of ${Math.min(o.consumerBatch, 100)} leads over ${ACTIVITY_PARTITIONS} hash ` +
        `partitions touch ${partitionsTouched.toFixed(0)}, one transaction each) + idempotency ${idempotency.toFixed(2)} ` +
        `(claim and complete once per request of ${o.requestTwins})`,
    ],
    ['serviceBus/send', 1, 'one twin.saved.v1 per twin (sendMessages carries the batch in one call)'],
    ['serviceBus/receive', consumers, `each of the ${consumers} subscriptions receives it once`],
    ['serviceBus/complete', consumers, 'and settles it once'],
    [
      'redis/set',
      o.redis ? 1 : 0,
      o.redis ? 'the cache-warmer sets it (pipelined)' : 'in-memory cache: no Redis',
    ],
  ];
  return new Map(rows.map(([key, perTwin, why]) => [key, { perTwin, why }]));
}

function reportBillable(
  say: (s?: string) => void,
  r: {
    twins: number;
    billed: Counts;
    polls: { search: number; metadata: number };
    pollCost: { search: Counts; metadata: Counts };
    minimum: Map<string, Minimum>;
    drained: boolean;
  },
): void {
  const own = (key: string) =>
    r.polls.search * (r.pollCost.search.get(key) ?? 0) +
    r.polls.metadata * (r.pollCost.metadata.get(key) ?? 0);
  const keys = [...new Set([...r.minimum.keys(), ...r.billed.keys()])].filter(
    (k) => k !== 'cosmos/request_units',
  );
  let measuredTotal = 0;
  let minimumTotal = 0;
  say('');
  say(
    `billable operations per twin (twins_billable_operations_total, first request until ` +
      `${r.drained ? 'every subscription drained' : 'caught up (not drained)'}; the benchmark's own ` +
      `${r.polls.search} search polls and ${r.polls.metadata} metadata reads subtracted)`,
  );
  say(
    `${'service/operation'.padEnd(22)}${'measured'.padStart(10)}${'minimum'.padStart(10)}${'ratio'.padStart(9)}   why the minimum`,
  );
  for (const key of keys) {
    const measured = Math.max(0, (r.billed.get(key) ?? 0) - own(key)) / r.twins;
    const min = r.minimum.get(key);
    measuredTotal += measured;
    minimumTotal += min?.perTwin ?? 0;
    const ratio =
      min && min.perTwin > 0 ? `${(measured / min.perTwin).toFixed(2)}x` : measured > 0 ? 'extra' : '-';
    say(
      `${key.padEnd(22)}${measured.toFixed(3).padStart(10)}${(min?.perTwin ?? 0).toFixed(3).padStart(10)}${ratio.padStart(9)}` +
        `   ${min?.why ?? 'not needed by the design'}`,
    );
  }
  say(
    `${'total'.padEnd(22)}${measuredTotal.toFixed(3).padStart(10)}${minimumTotal.toFixed(3).padStart(10)}` +
      `${`${(measuredTotal / minimumTotal).toFixed(2)}x`.padStart(9)}   goal: within 10% of the minimum (<= 1.10x)`,
  );
  const ru = r.billed.get('cosmos/request_units');
  if (ru !== undefined)
    say(
      `cosmos request units per twin: ${(Math.max(0, ru - own('cosmos/request_units')) / r.twins).toFixed(2)} (as the stand-in charges them)`,
    );
}

/** Handler time per batch and subscription from the system's /metrics, every process of it. */
async function handlerTimes(
  systemPid: number,
  apiKey: string,
): Promise<Map<string, { sum: number; count: number }>> {
  const found = new Map<string, { sum: number; count: number }>();
  try {
    const text = (await scrapeProcessTree(systemPid, { authorization: `Bearer ${apiKey}` })).join('\n');
    const sample = /^twins_batch_handle_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm;
    for (const [, kind, labels, value] of text.matchAll(sample)) {
      const name = /subscription="([^"]+)"/.exec(labels)?.[1];
      if (!name) continue;
      const h = found.get(name) ?? { sum: 0, count: 0 };
      h[kind as 'sum' | 'count'] += Number(value);
      found.set(name, h);
    }
  } catch {
    // metrics off or unreachable: the table simply has no handler rows
  }
  return found;
}

/** Keeps the tail of the child's output for error reports; warnings and errors are echoed as they come. */
class OutputTail {
  private text = '';
  constructor(private readonly label: string) {}
  attach(child: ChildProcess): void {
    const take = (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      this.text = (this.text + s).slice(-8000);
      for (const line of s.split('\n')) if (line.trim()) process.stderr.write(`[${this.label}] ${line}\n`);
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
  }
  tail(): string {
    return this.text ? `last output of the system:\n${this.text}` : '(the system printed nothing)';
  }
}

/**
 * User + system CPU in ms of the system's process and the processes below it (consumers `start all` runs apart),
 * from /proc (Linux); undefined elsewhere. A child that exited takes its CPU time with it.
 */
function childCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let total: number | undefined;
  for (const p of processTreeNow(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat(5); after the command they are at 11 and 12. Clock ticks
      // are 100 per second on Linux.
      total = (total ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

const cpuCount = () => availableParallelism();

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  fatal: () => string | false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = fatal();
    if (reason) throw new Error(reason);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Set on SIGINT/SIGTERM: the signal handler stops everything and exits; main's own failure is moot then. */
let interrupted = false;

main().then(
  () => process.exit(0),
  (e: unknown) => {
    if (interrupted) return;
    process.stderr.write(`azure-pipeline bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
