import { createHash } from 'node:crypto';
import { IdempotencyStore, StoredResponse } from './idempotency-store.port';

/** An `Idempotency-Key`: 1-255 printable ASCII characters (space to `~`). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/**
 * The key of an `Idempotency-Key` header value, or null when it is not an acceptable key. Both the plain form
 * (`Idempotency-Key: abc`) and the structured-field string of the IETF draft (`Idempotency-Key: "abc"`) are
 * accepted and mean the same key.
 */
export function parseIdempotencyKey(value: string): string | null {
  const trimmed = value.trim();
  const quoted = /^"([^"\\]*)"$/.exec(trimmed);
  const key = quoted ? quoted[1] : trimmed;
  return IDEMPOTENCY_KEY_PATTERN.test(key) ? key : null;
}

/**
 * sha256 over the parts of a request that decide its effect (method, path, media type, precondition, body).
 * Each part is length-prefixed, so no two different part lists hash alike by shifting bytes between parts.
 */
export function idempotencyFingerprint(parts: ReadonlyArray<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

export interface IdempotentRequest {
  key: string;
  /** Method and normalised path (the resource the key is for). */
  scope: string;
  requestHash: string;
}

export type IdempotentOutcome =
  /** The action ran now; this is its answer (now stored). */
  | { state: 'fresh'; response: StoredResponse }
  /** The first answer of the same request. */
  | { state: 'replayed'; response: StoredResponse }
  /** The same request is still running: the caller should retry shortly. */
  | { state: 'in-flight' }
  /** The key was used for a different request. */
  | { state: 'mismatch' };

export interface RunIdempotentOptions {
  /** Which answers are remembered (default: 2xx). Others release the key, so a retry runs again. */
  remember?: (response: StoredResponse) => boolean;
  /** The store failed: after the action took effect (the answer is still returned), or renewing the claim. */
  onStoreError?: (error: unknown) => void;
  /**
   * The claim was lost while the action ran: its lease lapsed (renewals failed for a whole lease, or the
   * process stalled) and a retry took the key over, so the request may run twice. The action's own writes
   * stay safe (versioned, conditional); its answer is still returned but not stored (the retry's will be).
   * Called at most once.
   */
  onClaimLost?: () => void;
  /** How often the claim is renewed while the action runs (default: a third of the store's lease). */
  heartbeatMs?: number;
}

const isSuccess = (response: StoredResponse) => response.status >= 200 && response.status < 300;

/**
 * Runs `action` at most once per `(scope, key)` while the record lives. Answers that are not remembered
 * (failures: the request had no effect, or an unknown one) and thrown errors release the key, so the client's
 * retry runs the request again rather than replaying a failure. While the action runs, its claim is renewed
 * every `heartbeatMs`: a slow request keeps its key however long it takes, while the claim of a holder that
 * died lapses within one lease and a retry may take the key over.
 */
export async function runIdempotent(
  store: IdempotencyStore,
  request: IdempotentRequest,
  action: () => Promise<StoredResponse>,
  options: RunIdempotentOptions = {},
): Promise<IdempotentOutcome> {
  const heartbeatMs = options.heartbeatMs ?? store.leaseMs / 3;
  if (!(heartbeatMs > 0))
    throw new Error(`the claim heartbeat needs a positive interval, not ${heartbeatMs}`);
  const begun = await store.begin(request.key, request.scope, request.requestHash);
  if (begun.state === 'done') return { state: 'replayed', response: begun.response };
  if (begun.state !== 'new') return begun;

  let lost = false;
  const claimLost = () => {
    if (lost) return;
    lost = true;
    options.onClaimLost?.();
  };
  const heartbeat = new ClaimHeartbeat(
    () => store.renew(request.key, request.scope, begun.claim),
    heartbeatMs,
    claimLost,
    (e) => options.onStoreError?.(e),
  );
  const release = async () => {
    await heartbeat.stop();
    // A lost claim is another request's now: nothing of ours to release.
    if (lost) return;
    await store
      .release(request.key, request.scope, begun.claim)
      .catch((e: unknown) => options.onStoreError?.(e));
  };
  let response: StoredResponse;
  try {
    response = await action();
  } catch (e) {
    await release();
    throw e;
  }
  if (!(options.remember ?? isSuccess)(response)) {
    await release();
    return { state: 'fresh', response };
  }
  await heartbeat.stop();
  if (lost) return { state: 'fresh', response };
  try {
    // Conditional on the claim: when a retry took the key over meanwhile, the retry's answer is the one stored.
    if (!(await store.complete(request.key, request.scope, begun.claim, response))) claimLost();
  } catch (e) {
    // The effect happened: the client gets its answer. Until the claim's lease lapses, a retry is told the
    // request is in flight; after it, a retry would run again (the store was down, nothing else to do).
    options.onStoreError?.(e);
  }
  return { state: 'fresh', response };
}

/**
 * Renews a claim every `everyMs` until stopped or lost. One renewal at a time (each is scheduled when the
 * previous one ended); a renewal that fails (store unreachable) is reported and the next one tried, as the
 * lease leaves room for two misses. The timer does not keep the process alive.
 */
class ClaimHeartbeat {
  private timer?: ReturnType<typeof setTimeout>;
  private renewing?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly renew: () => Promise<boolean>,
    private readonly everyMs: number,
    private readonly onLost: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.schedule();
  }

  /** Stops renewing; resolves once a renewal under way has ended (so it cannot race `complete`). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.renewing;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.renewing = this.beat()
        // Only a throwing callback gets here: never an unhandled rejection from a timer.
        .catch(() => undefined)
        .finally(() => {
          this.renewing = undefined;
        });
    }, this.everyMs);
    this.timer.unref?.();
  }

  private async beat(): Promise<void> {
    try {
      if (!(await this.renew())) {
        this.stopped = true;
        this.onLost();
        return;
      }
    } catch (e) {
      this.onError(e);
    }
    if (!this.stopped) this.schedule();
  }
}
