/**
 * `Idempotency-Key` bookkeeping (ARCHITECTURE decision 3): a retried POST/PUT with the same key and the same
 * request returns the first answer instead of acting again.
 *
 * A record is identified by `(scope, key)`; scope is the method and the normalised path (and, once the API has
 * principals, the caller), so two clients or two resources never share a key. `requestHash` fingerprints the
 * request (see `idempotencyFingerprint`): the same key with another request is a client error, never a replay.
 *
 * Life of a record: `begin` claims the key (`new`, with a claim token) and the request runs; `complete` stores
 * its answer (`done`), or `release` drops the claim when the request had no effect worth remembering. A claim
 * is a short lease (`leaseMs`, 15 s by default) that its holder keeps renewing while the request runs (see
 * `runIdempotent`): a live request, however slow, keeps the key; a dead holder (crash, SIGKILL, lost machine)
 * stops renewing and the key is claimable again within one lease. Every record expires (24 h by default) and
 * is then forgotten: the key may be used afresh.
 */
export interface StoredResponse {
  status: number;
  /** Response headers to replay (lower-case names), e.g. `etag`, `location`. */
  headers: Record<string, string>;
  /** The JSON body. */
  body: unknown;
}

export type IdempotencyBegin =
  /** The key is ours: run the request, then `complete` or `release` with this claim. */
  | { state: 'new'; claim: string }
  /** The same request already ran: answer this. */
  | { state: 'done'; response: StoredResponse }
  /** The same request is running elsewhere (its claim has not lapsed). */
  | { state: 'in-flight' }
  /** The key was used for another request (another body, path or precondition). */
  | { state: 'mismatch' };

export interface IdempotencyStore {
  /** How long a claim holds a key without renewal; its holder renews well within it (every third). */
  readonly leaseMs: number;
  begin(key: string, scope: string, requestHash: string): Promise<IdempotencyBegin>;
  /**
   * Stores the answer of a claimed request, if `claim` still holds the key; returns whether it did. A claim is
   * lost only when its lease lapsed and another request took the key over: that one's answer will be stored.
   */
  complete(key: string, scope: string, claim: string, response: StoredResponse): Promise<boolean>;
  /**
   * Extends the lease of a claim to a whole `leaseMs` from now, if `claim` still holds the key (in flight,
   * not expired); returns whether it did. False means the claim is lost for good (another request took the
   * key over after the lease lapsed, or it was completed or released): renewing again will not help. A lease
   * that lapsed but was not taken over is renewed.
   */
  renew(key: string, scope: string, claim: string): Promise<boolean>;
  /** Drops an unfinished claim (only if `claim` still holds it), so the request may run again. */
  release(key: string, scope: string, claim: string): Promise<void>;
  /** Deletes expired records; returns how many. */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}

export interface IdempotencyStoreOptions {
  /** How long an answer is remembered (default 24 h). */
  ttlMs?: number;
  /** How long a claim holds a key without renewal before another request may take it over (default 15 s). */
  leaseMs?: number;
  /** Time source (tests move it). */
  now?: () => number;
}

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A retry after its holder crashed waits at most this long. The holder renews every third of it, so a claim
 * survives a missed renewal (a slow store call, a GC pause) and clocks of different machines a few seconds
 * apart; it need not outlast the request, which may take as long as it takes.
 */
export const IDEMPOTENCY_LEASE_MS = 15_000;
