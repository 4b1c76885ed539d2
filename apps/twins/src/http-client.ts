import { randomUUID } from 'node:crypto';
import type { Classification, TwinMetadataInput } from '@twinstore/domain';

/**
 * A small typed client for the twinstore HTTP API v1 over the global `fetch`. Transient failures (network
 * errors, timeouts, 429, 503) are retried with exponential backoff and full jitter, honouring `Retry-After`;
 * writes carry an `Idempotency-Key` that stays the same across retries, so a retried PUT or batch whose first
 * attempt did land returns the first answer instead of minting a second version.
 */

export interface TwinsClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number;
  /** First backoff step in ms (default 100); doubles per attempt. */
  baseDelayMs?: number;
  /** Upper bound on any single wait, `Retry-After` included (default 30 s). */
  maxDelayMs?: number;
  /** Per-attempt timeout in ms (default 60 s). */
  timeoutMs?: number;
  /** Injected for tests; default the global fetch, setTimeout and Math.random. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each retry wait (for counting and logging). */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  method: string;
  url: string;
  /** The attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  /** The status that caused it, or the network error's message. */
  reason: number | string;
}

export interface TwinBody {
  markdown: string;
  /** Known fields typed; any other top-level field is a free extra field (the server validates). */
  metadata: TwinMetadataInput | Record<string, unknown>;
}

export interface PutTwinOptions {
  ifMatch?: string;
  idempotencyKey?: string;
}

export interface PutTwinResult {
  leadId: string;
  version: string;
  status: string;
  etag?: string;
  location?: string;
  /** Attempts this request took (1 = no retry). */
  attempts: number;
}

export interface GetTwinResult {
  /** The stored bytes, unchanged. */
  body: Buffer;
  headers: Headers;
  /** The version (the ETag without quotes), if the server sent one. */
  version?: string;
  tier?: string;
}

export interface SearchParams {
  q?: string;
  classification?: Classification | Classification[];
  minIncome?: number;
  maxIncome?: number;
  minAge?: number;
  maxAge?: number;
  location?: string;
  tags?: string[];
  top?: number;
  skip?: number;
  facets?: string[];
}

export interface SearchHitDto {
  leadId: string;
  version?: string;
  score?: number;
  highlights?: string[];
  classification?: Classification;
  age?: number;
  income?: number;
  location?: string;
  tags?: string[];
}

export interface SearchResponse {
  total: number;
  hits: SearchHitDto[];
  facets?: Record<string, { value: string; count: number }[]>;
}

export interface BatchItem extends TwinBody {
  leadId: string;
}

export interface BatchItemResult {
  leadId: string;
  /** HTTP status of this item (202 when accepted). */
  status: number;
  version?: string;
  /** The RFC 9457 problem of a refused item. */
  problem?: { type?: string; title?: string; detail?: string; code?: string };
}

export const BATCH_MAX_ITEMS = 1000;

/** A non-2xx answer (after retries); `problem` is the RFC 9457 body when the server sent one. */
export class TwinsHttpError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly url: string,
    readonly problem: Record<string, unknown> | undefined,
    readonly attempts: number,
  ) {
    const detail = problem && typeof problem.detail === 'string' ? `: ${problem.detail}` : '';
    const title = problem && typeof problem.title === 'string' ? ` ${problem.title}` : '';
    super(`${method} ${url} -> ${status}${title}${detail}`);
    this.name = 'TwinsHttpError';
  }
}

interface RequestInput {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: URLSearchParams;
  json?: unknown;
  headers?: Record<string, string>;
  /** Statuses handed back to the caller instead of thrown. */
  accept?: (status: number) => boolean;
}

interface RawResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  attempts: number;
}

const RETRYABLE_STATUSES = new Set([429, 503]);

export class TwinsHttpClient {
  private readonly baseUrl: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly doFetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: TwinsClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  async putTwin(leadId: string, twin: TwinBody, options: PutTwinOptions = {}): Promise<PutTwinResult> {
    const res = await this.request({
      method: 'PUT',
      path: `/v1/twins/${encodeURIComponent(leadId)}`,
      json: { markdown: twin.markdown, metadata: twin.metadata },
      headers: {
        'idempotency-key': options.idempotencyKey ?? randomUUID(),
        ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}),
      },
    });
    const body = parseJson(res.body) as Partial<PutTwinResult> | undefined;
    const etag = res.headers.get('etag') ?? undefined;
    const version = body?.version ?? (etag ? unquoteEtag(etag) : undefined);
    if (!version) throw new Error(`PUT /v1/twins/${leadId} answered ${res.status} without a version`);
    return {
      leadId: body?.leadId ?? leadId,
      version,
      status: body?.status ?? 'accepted',
      etag,
      location: res.headers.get('location') ?? undefined,
      attempts: res.attempts,
    };
  }

  /** The twin's markdown bytes; with `minVersion`, the server answers only with that version or a newer one. */
  async getTwin(leadId: string, options: { minVersion?: string } = {}): Promise<GetTwinResult> {
    const query = new URLSearchParams();
    if (options.minVersion) query.set('minVersion', options.minVersion);
    const res = await this.request({ method: 'GET', path: `/v1/twins/${encodeURIComponent(leadId)}`, query });
    const etag = res.headers.get('etag');
    return {
      body: res.body,
      headers: res.headers,
      version: etag ? unquoteEtag(etag) : undefined,
      tier: res.headers.get('x-twin-tier') ?? res.headers.get('x-tier') ?? undefined,
    };
  }

  async search(params: SearchParams): Promise<SearchResponse> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined) continue;
      query.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    const res = await this.request({ method: 'GET', path: '/v1/search', query });
    const body = parseJson(res.body) as Partial<SearchResponse> | undefined;
    if (!body || !Array.isArray(body.hits)) throw new Error('GET /v1/search answered without a hits array');
    return {
      total: typeof body.total === 'number' ? body.total : body.hits.length,
      hits: body.hits,
      facets: body.facets,
    };
  }

  /** True when the twin was erased, false when there was nothing to erase (404). */
  async deleteTwin(leadId: string): Promise<boolean> {
    const res = await this.request({
      method: 'DELETE',
      path: `/v1/twins/${encodeURIComponent(leadId)}`,
      accept: (status) => status === 404,
    });
    return res.status !== 404;
  }

  /**
   * `POST /v1/twins:batch`: one result per item, in request order. A whole-request failure throws; per-item
   * refusals come back as results with their own status.
   */
  async batch(items: BatchItem[], options: { idempotencyKey?: string } = {}): Promise<BatchItemResult[]> {
    if (items.length === 0) return [];
    if (items.length > BATCH_MAX_ITEMS) {
      throw new RangeError(`a batch holds at most ${BATCH_MAX_ITEMS} twins, got ${items.length}`);
    }
    const res = await this.request({
      method: 'POST',
      path: '/v1/twins:batch',
      json: { items },
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
    });
    const body = parseJson(res.body) as { results?: unknown; items?: unknown } | unknown[] | undefined;
    const results = Array.isArray(body) ? body : (body?.results ?? body?.items);
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new Error(`POST /v1/twins:batch answered without one result per item (${items.length} sent)`);
    }
    return results.map((raw, i) => {
      const r = (raw ?? {}) as Partial<BatchItemResult> & {
        leadId?: unknown;
        problem?: unknown;
        error?: unknown;
      };
      const problem = r.problem ?? r.error; // `error` tolerated for servers that name it so
      return {
        leadId: typeof r.leadId === 'string' ? r.leadId : items[i].leadId,
        status: typeof r.status === 'number' ? r.status : r.version ? 202 : 500,
        version: r.version,
        problem: problem && typeof problem === 'object' ? (problem as BatchItemResult['problem']) : undefined,
      };
    });
  }

  private async request(input: RequestInput): Promise<RawResponse> {
    const url = `${this.baseUrl}${input.path}${input.query && [...input.query].length > 0 ? `?${input.query}` : ''}`;
    const headers: Record<string, string> = {
      accept: 'application/json, text/markdown;q=0.9, */*;q=0.1',
      ...input.headers,
    };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let body: string | undefined;
    if (input.json !== undefined) {
      body = JSON.stringify(input.json);
      headers['content-type'] = 'application/json';
    }

    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.doFetch(url, {
          method: input.method,
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        if (attempt >= this.maxAttempts) throw e;
        await this.wait(
          input.method,
          url,
          attempt,
          this.backoff(attempt),
          e instanceof Error ? e.message : String(e),
        );
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = Buffer.from(await res.arrayBuffer());
      } catch (e) {
        // The connection dropped mid-body: as transient as a failed connect.
        if (attempt >= this.maxAttempts) throw e;
        await this.wait(
          input.method,
          url,
          attempt,
          this.backoff(attempt),
          e instanceof Error ? e.message : String(e),
        );
        continue;
      }
      // 409 with Retry-After under an Idempotency-Key: the first attempt of this very request is still running
      // (or its process died and the key's lease has not lapsed yet); the retry gets its answer.
      const inFlight = res.status === 409 && 'idempotency-key' in headers && res.headers.has('retry-after');
      if ((RETRYABLE_STATUSES.has(res.status) || inFlight) && attempt < this.maxAttempts) {
        const delay = this.retryDelay(attempt, res.headers.get('retry-after'));
        await this.wait(input.method, url, attempt, delay, res.status);
        continue;
      }
      if (res.ok || input.accept?.(res.status)) {
        return { status: res.status, headers: res.headers, body: bytes, attempts: attempt };
      }
      throw new TwinsHttpError(res.status, input.method, url, problemOf(bytes), attempt);
    }
  }

  private wait(method: string, url: string, attempt: number, delayMs: number, reason: number | string) {
    this.options.onRetry?.({ method, url, attempt, delayMs, reason });
    return this.sleep(delayMs);
  }

  /** `Retry-After` wins when present (seconds or an HTTP date), capped; otherwise jittered backoff. */
  private retryDelay(attempt: number, retryAfter: string | null): number {
    if (retryAfter !== null) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
      // Up to 10% on top so clients told the same instant do not come back in lockstep.
      if (Number.isFinite(ms)) return Math.min(this.maxDelayMs, Math.max(0, ms) * (1 + 0.1 * this.random()));
    }
    return this.backoff(attempt);
  }

  /** Exponential with equal jitter: never less than half the step, so a retry storm still spreads out. */
  private backoff(attempt: number): number {
    const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(step / 2 + (this.random() * step) / 2);
  }
}

function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function problemOf(bytes: Buffer): Record<string, unknown> | undefined {
  const value = parseJson(bytes);
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
