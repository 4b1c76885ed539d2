import { ApiKeyRecord, ApiKeyStore } from '../ports';
import { apiKeySecretMatches, parseApiKey } from './api-key';
import type { Principal } from './principal';

/** Keys (known or not) remembered at most; the oldest entry goes first, so guessed ids cannot grow memory. */
const MAX_CACHED_KEYS = 10_000;
/** `lastUsedAt` is written at most this often per key and process (a write per request would cost more than the request). */
export const LAST_USED_RESOLUTION_MS = 60_000;

export type KeyVerdict = { ok: true; principal: Principal } | { ok: false; reason: string; keyId?: string };

interface CachedKey {
  until: number;
  record: Promise<ApiKeyRecord | null>;
}

/**
 * Checks `tws_` API keys against the store. A key's record (found or not) is cached for `cacheTtlMs`, so a
 * request normally costs no storage read: a revocation therefore takes effect within that time (0: every
 * request reads the store). The secret is checked on every request, against the cached hash, in constant time.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, CachedKey>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: ApiKeyStore,
    private readonly options: { cacheTtlMs: number; now?: () => number; onTouchError?: (e: unknown) => void },
  ) {}

  async verify(key: string): Promise<KeyVerdict> {
    const parsed = parseApiKey(key);
    if (!parsed) return { ok: false, reason: 'malformed' };
    const { keyId, secret } = parsed;
    const record = await this.record(keyId);
    if (!record) return { ok: false, reason: 'unknown', keyId };
    if (!apiKeySecretMatches(secret, record.secretHash)) return { ok: false, reason: 'wrong secret', keyId };
    if (record.revokedAt) return { ok: false, reason: 'revoked', keyId };
    this.touch(keyId);
    return {
      ok: true,
      principal: { id: keyId, name: record.name, scopes: [...record.scopes], kind: 'api-key' },
    };
  }

  private record(keyId: string): Promise<ApiKeyRecord | null> {
    const now = this.now();
    const cached = this.cache.get(keyId);
    if (cached && cached.until > now) return cached.record;
    const record = this.store.get(keyId);
    if (this.options.cacheTtlMs > 0) {
      this.cache.delete(keyId);
      if (this.cache.size >= MAX_CACHED_KEYS) this.cache.delete(this.cache.keys().next().value as string);
      const entry = { until: now + this.options.cacheTtlMs, record };
      this.cache.set(keyId, entry);
      // a failed read is not remembered: the next request asks again
      record.catch(() => {
        if (this.cache.get(keyId) === entry) this.cache.delete(keyId);
      });
    }
    return record;
  }

  private touch(keyId: string): void {
    const now = this.now();
    if (now - (this.touched.get(keyId) ?? -Infinity) < LAST_USED_RESOLUTION_MS) return;
    this.touched.delete(keyId);
    if (this.touched.size >= MAX_CACHED_KEYS) this.touched.delete(this.touched.keys().next().value as string);
    this.touched.set(keyId, now);
    // bookkeeping only: a failed write must not fail the request
    this.store.touch(keyId, new Date(now)).catch((e: unknown) => this.options.onTouchError?.(e));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
