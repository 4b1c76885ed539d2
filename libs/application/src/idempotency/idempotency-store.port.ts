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
 * is a lease: if its holder dies, the key is claimable again once the lease lapses. Every record expires
 * (24 h by default) and is then forgotten: the key may be used afresh.
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
  begin(key: string, scope: string, requestHash: string): Promise<IdempotencyBegin>;
  /**
   * Stores the answer of a claimed request, if `claim` still holds the key; returns whether it did. A claim is
   * lost only when its lease lapsed and another request took the key over: that one's answer will be stored.
   */
  complete(key: string, scope: string, claim: string, response: StoredResponse): Promise<boolean>;
  /** Drops an unfinished claim (only if `claim` still holds it), so the request may run again. */
  release(key: string, scope: string, claim: string): Promise<void>;
  /** Deletes expired records; returns how many. */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}

export interface IdempotencyStoreOptions {
  /** How long an answer is remembered (default 24 h). */
  ttlMs?: number;
  /** How long a claim holds a key before another request may take it over (default 2 min). */
  leaseMs?: number;
  /** Time source (tests move it). */
  now?: () => number;
}

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Longer than any request may take (a 1000-item batch included), short enough to unblock after a crash. */
export const IDEMPOTENCY_LEASE_MS = 2 * 60 * 1000;
