import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { describeError } from './describe-error';
import { problem, PROBLEM_CONTENT_TYPE, ProblemCode } from './problem';
import { pathOf } from './request-context';
import type { TwinsRuntime } from '@twinstore/platform';
import { RateLimitKeyOf, registerRateLimit, routeOf, TokenBucketLimiter } from './rate-limit';

export const REJECTIONS_METRIC = 'twins_http_rejections_total';
export const INFLIGHT_WRITES_METRIC = 'twins_http_inflight_writes';
export const BUS_BACKLOG_METRIC = 'twins_bus_backlog_sampled';

/** Why a request was turned away: the `reason` label of the rejections counter. */
export type RejectionReason = 'rate-limit' | 'inflight' | 'bus-backlog' | 'backend-busy';

export interface FlowControlMetrics {
  /** `reason`, `method`, `route` (the pattern, never the URL). */
  rejections: Counter<string>;
  inflightWrites: Gauge<string>;
  /** The last backlog sample (capped at the threshold + 1: counting stops there). */
  busBacklog: Gauge<string>;
}

/** The flow-control metrics on `registry`, registered once even when several apps share it. */
export function flowControlMetrics(registry: Registry): FlowControlMetrics {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    rejections:
      existing<Counter<string>>(REJECTIONS_METRIC) ??
      new Counter({
        name: REJECTIONS_METRIC,
        help: 'Requests refused before doing work: 429 rate-limit, 503 inflight, bus-backlog, backend-busy',
        labelNames: ['reason', 'method', 'route'],
        registers: [registry],
      }),
    inflightWrites:
      existing<Gauge<string>>(INFLIGHT_WRITES_METRIC) ??
      new Gauge({
        name: INFLIGHT_WRITES_METRIC,
        help: 'Write requests (PUT, POST, DELETE under /v1) being processed',
        registers: [registry],
      }),
    busBacklog:
      existing<Gauge<string>>(BUS_BACKLOG_METRIC) ??
      new Gauge({
        name: BUS_BACKLOG_METRIC,
        help: 'Last sampled backlog of the busiest subscription, as seen by the API (capped at the limit + 1)',
        registers: [registry],
      }),
  };
}

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/** A request that stores or erases (and publishes an event): what back-pressure sheds; reads are served. */
export function isWriteRequest(req: FastifyRequest): boolean {
  return WRITE_METHODS.has(req.method) && (req.routeOptions?.url ?? '').startsWith('/v1/');
}

/** `Retry-After` of a 503 for the in-flight cap: requests finish in milliseconds, come back soon. */
export const INFLIGHT_RETRY_AFTER_S = 1;
/** `Retry-After` of a 503 for the bus backlog, at least: consumers need time to catch up. */
export const BACKLOG_RETRY_AFTER_S = 5;
/** A sample older than this many intervals is not trusted (writes pass until a fresh one arrives). */
const STALE_AFTER_INTERVALS = 5;

export interface BusBacklogGateOptions {
  /** The bus admin's `backlog(atMost)`. */
  backlog: (atMost: number) => Promise<number>;
  /** Writes are refused while the sampled backlog is above this. */
  max: number;
  /** Sample at most this often (milliseconds). */
  intervalMs: number;
  /** Milliseconds; injected by tests. */
  now?: () => number;
  /** Called once per run of failing samples (not on every failure). */
  onError?: (error: unknown) => void;
  onSample?: (backlog: number) => void;
}

/**
 * Decides from a recent sample of the bus backlog whether writes may go on. Requests never wait for the bus:
 * `check()` reads the last sample and, when it is older than the interval, starts one new sample in the
 * background (so at most one sample per interval, however many requests). The count stops at `max + 1`, so
 * a sample costs the same however deep the backlog. A stale sample (the sampler failing, or the API idle)
 * admits writes: back-pressure fails open and never takes the API down on its own.
 */
export class BusBacklogGate {
  private sample: { value: number; at: number } | undefined;
  private sampling: Promise<void> | undefined;
  private failing = false;
  private readonly now: () => number;

  constructor(private readonly options: BusBacklogGateOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** The last sampled backlog, if any. */
  get lastSample(): number | undefined {
    return this.sample?.value;
  }

  /** Undefined when writes may go on; else the backlog seen and how long the client should wait. */
  check(): { backlog: number; retryAfterSeconds: number } | undefined {
    const now = this.now();
    const s = this.sample;
    if (s === undefined || now - s.at >= this.options.intervalMs) void this.refresh();
    if (s === undefined || now - s.at > STALE_AFTER_INTERVALS * this.options.intervalMs) return undefined;
    if (s.value <= this.options.max) return undefined;
    return {
      backlog: s.value,
      retryAfterSeconds: Math.max(BACKLOG_RETRY_AFTER_S, Math.ceil(this.options.intervalMs / 1000)),
    };
  }

  /** Takes a sample now (one at a time: a call while one runs gets that one). Never rejects. */
  refresh(): Promise<void> {
    if (this.sampling) return this.sampling;
    const run = this.sampleOnce();
    this.sampling = run;
    void run.finally(() => {
      if (this.sampling === run) this.sampling = undefined;
    });
    return run;
  }

  private async sampleOnce(): Promise<void> {
    try {
      await Promise.resolve();
      const value = await this.options.backlog(this.options.max + 1);
      this.sample = { value, at: this.now() };
      this.failing = false;
      this.options.onSample?.(value);
    } catch (error) {
      if (!this.failing) this.options.onError?.(error);
      this.failing = true;
    }
  }
}

export interface BackPressureOptions {
  /** Most write requests processed at once; beyond it 503 at once. 0: no cap. */
  maxInflightWrites: number;
  /** Refuses writes while the bus backlog is over its limit; undefined: off. */
  backlog?: BusBacklogGate;
  metrics?: FlowControlMetrics;
}

export interface BackPressure {
  /** Write requests admitted and not finished yet. */
  inflightWrites(): number;
}

/** How long a slot of a request whose client went away is kept, at most, for its handler to finish. */
const ABANDONED_SLOT_MS = 30_000;

/**
 * Back-pressure on writes as an `onRequest` hook (before the body is read, so a refused request costs no
 * parsing): 503 + `Retry-After` when the bus backlog is over its limit or `maxInflightWrites` writes are
 * already being processed. Nothing waits in a queue: a refused request is refused at once and wrote nothing.
 * Reads and search are never refused here. Register it after authentication and rate limiting.
 */
export function registerBackPressure(fastify: FastifyInstance, options: BackPressureOptions): BackPressure {
  let inflight = 0;
  const release = (req: FastifyRequest & { [SLOT]?: Slot }) => {
    const slot = req[SLOT];
    if (!slot || slot.released) return;
    slot.released = true;
    if (slot.timer) clearTimeout(slot.timer);
    inflight--;
    options.metrics?.inflightWrites.set(inflight);
  };
  fastify.addHook('onRequest', async (req: FastifyRequest & { [SLOT]?: Slot }, reply: FastifyReply) => {
    if (!isWriteRequest(req)) return;
    const over = options.backlog?.check();
    if (over) {
      return refuse(req, reply, options.metrics, 'bus-backlog', over.retryAfterSeconds, {
        code: 'HTTP.OVERLOADED',
        detail: `the event backlog is too long to take writes now; retry after ${over.retryAfterSeconds} s`,
      });
    }
    if (options.maxInflightWrites > 0 && inflight >= options.maxInflightWrites) {
      return refuse(req, reply, options.metrics, 'inflight', INFLIGHT_RETRY_AFTER_S, {
        code: 'HTTP.OVERLOADED',
        detail: `too many writes in progress; retry after ${INFLIGHT_RETRY_AFTER_S} s`,
      });
    }
    inflight++;
    options.metrics?.inflightWrites.set(inflight);
    const slot: Slot = { released: false };
    req[SLOT] = slot;
    // The handler's answer frees the slot. A client that goes away first does not stop the handler, so its
    // slot is held until the answer or, should none ever come, a deadline: never leaked, never freed early.
    reply.raw.once('close', () => {
      if (!slot.released) slot.timer = setTimeout(() => release(req), ABANDONED_SLOT_MS).unref();
    });
  });
  fastify.addHook('onSend', async (req: FastifyRequest & { [SLOT]?: Slot }) => {
    release(req);
  });
  fastify.addHook('onResponse', async (req: FastifyRequest & { [SLOT]?: Slot }) => {
    release(req);
  });
  return { inflightWrites: () => inflight };
}

const SLOT = Symbol('twins.inflightWriteSlot');

interface Slot {
  released: boolean;
  timer?: NodeJS.Timeout;
}

function refuse(
  req: FastifyRequest,
  reply: FastifyReply,
  metrics: FlowControlMetrics | undefined,
  reason: RejectionReason,
  retryAfterSeconds: number,
  body: { code: ProblemCode; detail: string },
): FastifyReply {
  metrics?.rejections.inc({ reason, method: req.method, route: routeOf(req) });
  return reply
    .code(503)
    .header('retry-after', String(retryAfterSeconds))
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem(body.code, body.detail, { instance: pathOf(req) })));
}

/** A backend refusing for load: its suggested wait, when it gave one. */
export interface BackendBusy {
  retryAfterSeconds: number;
  /** For logs and nothing else: the error's code or status. */
  kind: string;
}

const DEFAULT_BACKEND_RETRY_AFTER_S = 2;
const MAX_BACKEND_RETRY_AFTER_S = 60;

/**
 * Whether a failure is a backend saying "too busy, later" rather than a fault: Azure 429 (Cosmos request
 * rate, AI Search, Storage) or 503 (Storage `ServerBusy`, AI Search), Service Bus `ServiceBusy`, or SQLite
 * still `SQLITE_BUSY` after its busy timeout. Looks through `cause` chains (adapters may wrap). The answer is a
 * 503 with `Retry-After` (the backend's own hint when it sent one, within 1..60 s) instead of a 500.
 */
export function backendBusy(error: unknown): BackendBusy | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const found = busyOf(current as Record<string, unknown>);
    if (found) return found;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function busyOf(e: Record<string, unknown>): BackendBusy | undefined {
  const code = e.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
    return { kind: code, retryAfterSeconds: 1 };
  }
  if (code === 'ServiceBusy') return { kind: code, retryAfterSeconds: DEFAULT_BACKEND_RETRY_AFTER_S };
  const status =
    typeof e.statusCode === 'number' ? e.statusCode : typeof code === 'number' ? code : undefined;
  // `statusCode` 503 alone is not enough for Node's own errors; a response status of an Azure SDK error is.
  if (status === 429 || (status === 503 && (e.name === 'RestError' || 'response' in e || 'headers' in e))) {
    return { kind: `status ${status}`, retryAfterSeconds: backendHint(e) ?? DEFAULT_BACKEND_RETRY_AFTER_S };
  }
  return undefined;
}

/** `retryAfterInMs` (Cosmos), or `retry-after-ms` / `x-ms-retry-after-ms` / `retry-after` response headers. */
function backendHint(e: Record<string, unknown>): number | undefined {
  const ms =
    numeric(e.retryAfterInMs) ??
    numeric(e.retryAfterInMilliseconds) ??
    numeric(header(e, 'retry-after-ms')) ??
    numeric(header(e, 'x-ms-retry-after-ms'));
  const seconds = ms !== undefined ? ms / 1000 : numeric(header(e, 'retry-after'));
  if (seconds === undefined) return undefined;
  return Math.min(MAX_BACKEND_RETRY_AFTER_S, Math.max(1, Math.ceil(seconds)));
}

function header(e: Record<string, unknown>, name: string): unknown {
  const sources = [e.headers, (e.response as { headers?: unknown } | undefined)?.headers];
  for (const h of sources) {
    if (!h || typeof h !== 'object') continue;
    const value =
      typeof (h as { get?: unknown }).get === 'function'
        ? (h as { get(n: string): unknown }).get(name)
        : (h as Record<string, unknown>)[name];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function numeric(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A bus backlog gate for these settings, or undefined when the limit is off; logs sampling failures. */
export function busBacklogGate(
  settings: { maxBusBacklog: number; busBacklogSampleMs: number },
  backlog: (atMost: number) => Promise<number>,
  logger: Logger,
  options: { metrics?: FlowControlMetrics; now?: () => number } = {},
): BusBacklogGate | undefined {
  if (!(settings.maxBusBacklog > 0)) return undefined;
  return new BusBacklogGate({
    backlog,
    max: settings.maxBusBacklog,
    intervalMs: settings.busBacklogSampleMs,
    now: options.now,
    onSample: (v) => options.metrics?.busBacklog.set(v),
    onError: (e) =>
      logger.warn(
        { err: describeError(e) },
        'bus backlog sample failed; writes are admitted until it succeeds',
      ),
  });
}

export interface FlowControl {
  /** Undefined when rate limiting is off. */
  limiter?: TokenBucketLimiter;
  backPressure: BackPressure;
  /** Undefined when the backlog limit is off. */
  backlog?: BusBacklogGate;
  metrics?: FlowControlMetrics;
}

/**
 * Rate limiting, then back-pressure, as `onRequest` hooks. Call it right after the authentication hook is
 * registered: hooks of one kind run in registration order, so `keyOf` sees the principal and a request
 * refused 401/403 spends no tokens and takes no write slot.
 */
export function registerFlowControl(
  fastify: FastifyInstance,
  runtime: Pick<TwinsRuntime, 'config' | 'logger' | 'metrics' | 'busAdmin'>,
  options: { keyOf?: RateLimitKeyOf; now?: () => number } = {},
): FlowControl {
  const settings = runtime.config.flowControl;
  const metrics = runtime.config.metricsEnabled ? flowControlMetrics(runtime.metrics) : undefined;
  const limiter = registerRateLimit(fastify, {
    settings: settings.rateLimit,
    keyOf: options.keyOf,
    rejections: metrics?.rejections,
    now: options.now,
  });
  const backlog = busBacklogGate(settings, (atMost) => runtime.busAdmin.backlog(atMost), runtime.logger, {
    metrics,
    now: options.now,
  });
  const backPressure = registerBackPressure(fastify, {
    maxInflightWrites: settings.maxInflightWrites,
    backlog,
    metrics,
  });
  return { limiter, backPressure, backlog, metrics };
}
