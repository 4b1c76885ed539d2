import { Presets, SingleBar } from 'cli-progress';
import { generatePersona, Persona } from '@twinstore/personas';
import { BATCH_MAX_ITEMS, BatchItem, TwinsHttpClient, TwinsHttpError } from '../http-client';

export interface LoadArgs {
  baseUrl: string;
  count: number;
  /** Requests in flight at once (default 32). */
  concurrency?: number;
  /** Seed of the first persona; persona i uses `seed + i` (default 1), so a run is reproducible. */
  seed?: number;
  /** 0 (default): one PUT per twin; n > 0: `POST /v1/twins:batch` with n twins per request. */
  batchSize?: number;
  /** After loading, wait until every twin reads back byte-exact and is found by search. */
  verify?: boolean;
  /**
   * Keep each accepted twin's version in the summary (default true). Off, memory stays flat however many twins
   * are posted (a million versions would be hundreds of MB); `verify` needs them and turns it on.
   */
  keepVersions?: boolean;
  progress?: boolean;
  /** Where the summary goes (default stdout). */
  out?: NodeJS.WritableStream;
  apiKey?: string;
  /** Bound on the verification wait (default max(60 s, 20 ms per twin)). */
  verifyTimeoutMs?: number;
  /** Where progress goes (default stderr); a bar only when it is a TTY, plain lines otherwise. */
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Interval of the plain progress lines (default 2 s). */
  progressIntervalMs?: number;
  /** Client settings other than the base URL and key (tests shorten the backoff). */
  client?: Omit<ConstructorParameters<typeof TwinsHttpClient>[0], 'baseUrl' | 'apiKey' | 'onRetry'>;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface VerificationReport {
  checked: number;
  /** Read back with `?minVersion=` and byte-identical. */
  readable: number;
  /** Found by a search on a distinctive word and the twin's classification. */
  searchable: number;
  mismatches: { leadId: string; reason: string }[];
  timedOut: boolean;
  elapsedMs: number;
}

export interface LoadSummary {
  accepted: number;
  failed: number;
  elapsedMs: number;
  twinsPerSecond: number;
  /** UTF-8 bytes of the accepted markdown. */
  bytes: number;
  /** Accepted markdown throughput, MB = 10^6 bytes. */
  megabytesPerSecond: number;
  /** Per request: one PUT, or one batch POST when `batchSize` > 0. */
  latencyMs: LatencySummary;
  requests: number;
  retries: number;
  /** Accepted twins' versions by leadId; empty when `keepVersions` is off. */
  versions: Map<string, string>;
  /** The first failures (at most 20), for the report. */
  failures: { leadId: string; error: string }[];
  verification?: VerificationReport;
}

const MAX_REPORTED = 20;

/**
 * `twins load`: posts `count` synthetic personas through the HTTP API with a fixed pool of workers (never
 * more than `concurrency` requests in flight), then reports throughput and latency. Personas are generated
 * from their seeds as requests go out, so only the requests in flight are held in memory.
 */
export async function loadCommand(args: LoadArgs): Promise<LoadSummary> {
  const count = args.count;
  const concurrency = args.concurrency ?? 32;
  const seed = args.seed ?? 1;
  const batchSize = args.batchSize ?? 0;
  // A NaN from a mistyped flag would otherwise make the worker loop spin forever.
  if (!Number.isSafeInteger(count) || count < 0)
    throw new RangeError(`count must be an integer >= 0, got ${count}`);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 0 || batchSize > BATCH_MAX_ITEMS) {
    throw new RangeError(`batchSize must be an integer from 0 to ${BATCH_MAX_ITEMS}, got ${batchSize}`);
  }
  const keepVersions = args.verify === true || args.keepVersions !== false;
  const out = args.out ?? process.stdout;
  const progressOut = args.progressOut ?? process.stderr;
  let retries = 0;
  const client = new TwinsHttpClient({
    ...args.client,
    baseUrl: args.baseUrl,
    apiKey: args.apiKey,
    onRetry: () => {
      retries++;
    },
  });

  const versions = new Map<string, string>();
  const seeds = new Map<string, number>();
  const failures: LoadSummary['failures'] = [];
  const latencies: number[] = [];
  let accepted = 0;
  let failed = 0;
  let bytes = 0;
  const fail = (leadId: string, error: unknown) => {
    failed++;
    if (failures.length < MAX_REPORTED) failures.push({ leadId, error: describeError(error) });
  };

  const started = performance.now();
  const progress = startProgress(
    args.progress === true,
    progressOut,
    count,
    'load',
    () => ({
      done: accepted + failed,
      failed,
      rate: rate(accepted, performance.now() - started),
    }),
    args.progressIntervalMs,
  );

  const unit = batchSize > 0 ? batchSize : 1;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const from = next;
      if (from >= count) return;
      next = Math.min(count, from + unit);
      const personas: Persona[] = [];
      for (let i = from; i < next; i++) personas.push(generatePersona(seed + i));
      const t0 = performance.now();
      if (batchSize === 0) {
        const p = personas[0];
        try {
          const res = await client.putTwin(p.leadId, { markdown: p.markdown, metadata: p.metadata });
          latencies.push(performance.now() - t0);
          if (keepVersions) {
            versions.set(p.leadId, res.version);
            seeds.set(p.leadId, seed + from);
          }
          accepted++;
          bytes += Buffer.byteLength(p.markdown);
        } catch (e) {
          latencies.push(performance.now() - t0);
          fail(p.leadId, e);
        }
      } else {
        const items: BatchItem[] = personas.map((p) => ({
          leadId: p.leadId,
          markdown: p.markdown,
          metadata: p.metadata,
        }));
        try {
          const results = await client.batch(items);
          latencies.push(performance.now() - t0);
          results.forEach((r, i) => {
            if (r.status >= 200 && r.status < 300 && r.version) {
              if (keepVersions) {
                versions.set(personas[i].leadId, r.version);
                seeds.set(personas[i].leadId, seed + from + i);
              }
              accepted++;
              bytes += Buffer.byteLength(personas[i].markdown);
            } else {
              fail(personas[i].leadId, r.problem?.detail ?? r.problem?.title ?? `item status ${r.status}`);
            }
          });
        } catch (e) {
          latencies.push(performance.now() - t0);
          for (const p of personas) fail(p.leadId, e);
        }
      }
      progress.update();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.ceil(count / unit)) }, worker));
  const elapsedMs = performance.now() - started;
  progress.stop();

  const summary: LoadSummary = {
    accepted,
    failed,
    elapsedMs,
    twinsPerSecond: rate(accepted, elapsedMs),
    bytes,
    megabytesPerSecond: elapsedMs > 0 ? bytes / 1e6 / (elapsedMs / 1000) : 0,
    latencyMs: latencySummary(latencies),
    requests: latencies.length,
    retries,
    versions,
    failures,
  };
  printLoadSummary(out, summary, batchSize);

  if (args.verify) {
    const expected: Expected[] = [...versions].map(([leadId, version]) => ({
      leadId,
      version,
      seed: seeds.get(leadId)!,
    }));
    summary.verification = await verifyLoaded(client, expected, {
      concurrency,
      timeoutMs: args.verifyTimeoutMs ?? Math.max(60_000, count * 20),
      progress: args.progress === true,
      progressOut,
      progressIntervalMs: args.progressIntervalMs,
    });
    printVerification(out, summary.verification);
  }
  return summary;
}

interface Expected {
  leadId: string;
  seed: number;
  version: string;
}

interface Check extends Expected {
  readOk: boolean;
  searchOk: boolean;
  /** Set when the twin can never pass (wrong bytes): no point polling it again. */
  finalReason?: string;
  lastReason: string;
}

/**
 * Polls until each twin reads back byte-exact with `?minVersion=` (read-your-writes from the source of truth)
 * and is returned by search (the index projection caught up), or the deadline passes.
 */
async function verifyLoaded(
  client: TwinsHttpClient,
  expected: Expected[],
  options: {
    concurrency: number;
    timeoutMs: number;
    progress: boolean;
    progressOut: NodeJS.WritableStream & { isTTY?: boolean };
    progressIntervalMs?: number;
  },
): Promise<VerificationReport> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  const checks: Check[] = expected.map((e) => ({
    ...e,
    readOk: false,
    searchOk: false,
    lastReason: 'not checked',
  }));
  const settled = () => checks.filter((c) => c.finalReason !== undefined || c.searchOk).length;
  const progress = startProgress(
    options.progress,
    options.progressOut,
    checks.length,
    'verify',
    () => ({
      done: settled(),
      failed: checks.filter((c) => c.finalReason !== undefined).length,
      rate: rate(settled(), performance.now() - started),
    }),
    options.progressIntervalMs,
  );

  let pause = 200;
  let timedOut = false;
  for (;;) {
    const pending = checks.filter((c) => c.finalReason === undefined && !c.searchOk);
    if (pending.length === 0) break;
    if (performance.now() >= deadline) {
      timedOut = true;
      break;
    }
    let next = 0;
    const worker = async () => {
      while (next < pending.length && performance.now() < deadline) {
        await checkOne(client, pending[next++]);
        progress.update();
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, pending.length) }, worker));
    if (checks.every((c) => c.finalReason !== undefined || c.searchOk)) break;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Math.min(pause, deadline - performance.now()))),
    );
    pause = Math.min(2000, pause * 1.5);
  }
  progress.stop();

  const mismatches = checks
    .filter((c) => c.finalReason !== undefined || !c.searchOk)
    .map((c) => ({ leadId: c.leadId, reason: c.finalReason ?? c.lastReason }));
  return {
    checked: checks.length,
    readable: checks.filter((c) => c.readOk).length,
    searchable: checks.filter((c) => c.searchOk).length,
    mismatches,
    timedOut,
    elapsedMs: performance.now() - started,
  };
}

const NOT_YET = new Set([404, 409, 412, 425]);

async function checkOne(client: TwinsHttpClient, check: Check): Promise<void> {
  const persona = generatePersona(check.seed);
  if (!check.readOk) {
    try {
      const got = await client.getTwin(check.leadId, { minVersion: check.version });
      const want = Buffer.from(persona.markdown, 'utf8');
      if (got.body.equals(want)) {
        check.readOk = true;
      } else {
        check.finalReason = `content differs: ${describeDifference(got.body, want)}${
          got.version && got.version !== check.version
            ? ` (server version ${got.version}, ours ${check.version})`
            : ''
        }`;
        return;
      }
    } catch (e) {
      check.lastReason =
        e instanceof TwinsHttpError && NOT_YET.has(e.status)
          ? `not readable at version ${check.version} (HTTP ${e.status})`
          : `read failed: ${describeError(e)}`;
      return;
    }
  }
  const term = distinctiveTerm(persona.markdown, persona.leadId);
  try {
    const res = await client.search({ q: term, classification: persona.metadata.classification, top: 10 });
    if (res.hits.some((h) => h.leadId === check.leadId)) check.searchOk = true;
    else check.lastReason = `not found by search q=${term} classification=${persona.metadata.classification}`;
  } catch (e) {
    check.lastReason = `search failed: ${describeError(e)}`;
  }
}

/**
 * A word that should match this twin and almost nothing else: the first group of a UUID-like leadId when the
 * markdown carries it (the generator always writes it), otherwise the longest word in the text.
 */
export function distinctiveTerm(markdown: string, leadId: string): string {
  const head = /^[A-Za-z0-9]{6,}/.exec(leadId)?.[0];
  if (head && new RegExp(`(^|[^A-Za-z0-9])${head}([^A-Za-z0-9]|$)`).test(markdown)) return head;
  let best = '';
  for (const word of markdown.match(/[\p{L}\p{N}]{4,}/gu) ?? []) if (word.length > best.length) best = word;
  return best || leadId;
}

function describeDifference(got: Buffer, want: Buffer): string {
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  return `${got.length} bytes, expected ${want.length}; first difference at byte ${i}`;
}

function describeError(e: unknown): string {
  if (e instanceof TwinsHttpError) return e.message;
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** Nearest-rank percentiles. */
export function latencySummary(samples: number[]): LatencySummary {
  if (samples.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted[sorted.length - 1] };
}

const rate = (n: number, ms: number) => (ms > 0 ? n / (ms / 1000) : 0);

interface ProgressReporter {
  update(): void;
  stop(): void;
}

/**
 * A cli-progress bar on a terminal; on anything else (CI logs, pipes) a plain line at most every interval,
 * because a bar redrawn into a log file is just noise.
 */
function startProgress(
  enabled: boolean,
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  total: number,
  label: string,
  snapshot: () => { done: number; failed: number; rate: number },
  intervalMs = 2000,
): ProgressReporter {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | failed {failed} | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 200,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0', failed: 0 });
    const update = () => {
      const s = snapshot();
      bar.update(s.done, { rate: s.rate.toFixed(0), failed: s.failed });
    };
    return {
      update,
      stop: () => {
        update();
        bar.stop();
      },
    };
  }
  const line = () => {
    const s = snapshot();
    const pct = total > 0 ? ((100 * s.done) / total).toFixed(1) : '100.0';
    stream.write(`${label}: ${s.done}/${total} (${pct}%), ${s.rate.toFixed(1)}/s, ${s.failed} failed\n`);
  };
  const timer = setInterval(line, intervalMs);
  timer.unref();
  return {
    update: () => undefined,
    stop: () => {
      clearInterval(timer);
      line(); // the final count, so a log always ends at 100%
    },
  };
}

function printLoadSummary(out: NodeJS.WritableStream, s: LoadSummary, batchSize: number): void {
  const l = s.latencyMs;
  const lines = [
    `load: ${s.accepted} accepted, ${s.failed} failed in ${(s.elapsedMs / 1000).toFixed(2)} s`,
    `  throughput: ${s.twinsPerSecond.toFixed(1)} twins/s, ${s.megabytesPerSecond.toFixed(2)} MB/s (${(s.bytes / 1e6).toFixed(1)} MB of markdown)`,
    `  ${batchSize > 0 ? `batch POST (${batchSize} per request)` : 'PUT'} latency: p50 ${l.p50.toFixed(1)} ms, p95 ${l.p95.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms over ${s.requests} requests`,
    `  retries: ${s.retries}`,
    ...s.failures.map((f) => `  failed ${f.leadId}: ${f.error}`),
  ];
  if (s.failed > s.failures.length) lines.push(`  ... and ${s.failed - s.failures.length} more failures`);
  out.write(lines.join('\n') + '\n');
}

function printVerification(out: NodeJS.WritableStream, v: VerificationReport): void {
  const lines = [
    `verify: ${v.readable}/${v.checked} readable byte-exact, ${v.searchable}/${v.checked} searchable in ${(v.elapsedMs / 1000).toFixed(2)} s; ${v.mismatches.length} mismatches${v.timedOut ? ' (timed out)' : ''}`,
    ...v.mismatches.slice(0, MAX_REPORTED).map((m) => `  mismatch ${m.leadId}: ${m.reason}`),
  ];
  if (v.mismatches.length > MAX_REPORTED)
    lines.push(`  ... and ${v.mismatches.length - MAX_REPORTED} more mismatches`);
  out.write(lines.join('\n') + '\n');
}
