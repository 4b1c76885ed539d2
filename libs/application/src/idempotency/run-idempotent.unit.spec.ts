import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdempotencyBegin, IdempotencyStore, StoredResponse } from './idempotency-store.port';
import { runIdempotent } from './run-idempotent';

const LEASE_MS = 12_000;
const ok: StoredResponse = { status: 202, headers: {}, body: { version: 'V1' } };
const request = { key: 'k', scope: 'PUT /v1/twins/lead-1', requestHash: 'h' };

/** One key's record on the (fake) clock, with every call to the store written down. */
class FakeStore implements IdempotencyStore {
  readonly leaseMs = LEASE_MS;
  readonly calls: string[] = [];
  record?: { claim: string; lockedUntil: number; response?: StoredResponse };
  /** Replaces renew's outcome (a failure, a lost claim). */
  renewOverride?: () => Promise<boolean>;
  private claims = 0;
  private readonly start = Date.now();

  private log(what: string) {
    this.calls.push(`${what}@${Date.now() - this.start}`);
  }

  async begin(): Promise<IdempotencyBegin> {
    this.log('begin');
    const now = Date.now();
    if (this.record?.response) return { state: 'done', response: this.record.response };
    if (this.record && this.record.lockedUntil > now) return { state: 'in-flight' };
    const claim = `claim-${++this.claims}`;
    this.record = { claim, lockedUntil: now + this.leaseMs };
    return { state: 'new', claim };
  }

  async renew(_key: string, _scope: string, claim: string): Promise<boolean> {
    this.log('renew');
    if (this.renewOverride) return this.renewOverride();
    if (!this.record || this.record.response || this.record.claim !== claim) return false;
    this.record.lockedUntil = Date.now() + this.leaseMs;
    return true;
  }

  async complete(_key: string, _scope: string, claim: string, response: StoredResponse): Promise<boolean> {
    this.log('complete');
    if (!this.record || this.record.response || this.record.claim !== claim) return false;
    this.record.response = response;
    return true;
  }

  async release(_key: string, _scope: string, claim: string): Promise<void> {
    this.log('release');
    if (this.record && !this.record.response && this.record.claim === claim) this.record = undefined;
  }

  async purgeExpired(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

/** An action that answers (or fails) after `ms` of fake time. */
const slow =
  (ms: number, outcome: StoredResponse | Error = ok): (() => Promise<StoredResponse>) =>
  () =>
    new Promise((resolve, reject) =>
      setTimeout(() => (outcome instanceof Error ? reject(outcome) : resolve(outcome)), ms),
    );

describe('runIdempotent: the claim heartbeat', () => {
  let store: FakeStore;

  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
    store = new FakeStore();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const renewals = () => store.calls.filter((c) => c.startsWith('renew'));

  it('renews the claim every third of the lease while a slow action runs, and stops once it completed', async () => {
    const running = runIdempotent(store, request, slow(38_000));
    await vi.advanceTimersByTimeAsync(30_000);
    // Long past the lease of the claim: another request with the key is still told it is in flight.
    expect(await runIdempotent(store, request, async () => ok)).toEqual({ state: 'in-flight' });
    await vi.advanceTimersByTimeAsync(8_000);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(renewals()).toEqual([4, 8, 12, 16, 20, 24, 28, 32, 36].map((s) => `renew@${s * 1000}`));
    expect(store.calls.at(-1)).toBe('complete@38000');
    expect(store.record?.response).toEqual(ok);
    // The heartbeat is gone: no timer left, no renewal later.
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(renewals()).toHaveLength(9);
  });

  it('does not renew at all when the action ends within a third of the lease', async () => {
    const running = runIdempotent(store, request, slow(3_999));
    await vi.advanceTimersByTimeAsync(3_999);
    await running;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(store.calls).toEqual(['begin@0', 'complete@3999']);
  });

  it('stops renewing when the action fails, and releases the key', async () => {
    const running = runIdempotent(store, request, slow(10_000, new Error('boom')));
    const failed = expect(running).rejects.toThrow('boom');
    await vi.advanceTimersByTimeAsync(10_000);
    await failed;
    expect(store.calls).toEqual(['begin@0', 'renew@4000', 'renew@8000', 'release@10000']);
    expect(store.record).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops renewing when the answer is not remembered, and releases the key', async () => {
    const running = runIdempotent(store, request, slow(5_000, { status: 503, headers: {}, body: null }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await running).toMatchObject({ state: 'fresh', response: { status: 503 } });
    expect(store.calls).toEqual(['begin@0', 'renew@4000', 'release@5000']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a renewal that fails is reported and the next one tried', async () => {
    const errors: unknown[] = [];
    store.renewOverride = async () => {
      store.renewOverride = undefined; // this once
      throw new Error('store unreachable');
    };
    const running = runIdempotent(store, request, slow(9_000), { onStoreError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(errors).toEqual([new Error('store unreachable')]);
    expect(renewals()).toEqual(['renew@4000', 'renew@8000']);
    expect(store.record?.response).toEqual(ok);
  });

  it('a claim found lost stops the heartbeat and is reported once; the answer is returned, not stored', async () => {
    const onClaimLost = vi.fn();
    const running = runIdempotent(store, request, slow(30_000), { onClaimLost });
    await vi.advanceTimersByTimeAsync(4_500);
    // The process stalled past the lease and a retry took the key over (another claim holds it now).
    store.record!.claim = 'claim-of-the-retry';
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(onClaimLost).toHaveBeenCalledTimes(1);
    expect(renewals()).toEqual(['renew@4000', 'renew@8000']);
    // Neither stored (the retry's answer will be) nor released (the retry holds the key).
    expect(store.calls.filter((c) => /complete|release/.test(c))).toEqual([]);
    expect(store.record).toEqual({ claim: 'claim-of-the-retry', lockedUntil: expect.any(Number) });
  });

  it('a claim lost after the last renewal is reported when complete finds it gone', async () => {
    const onClaimLost = vi.fn();
    const running = runIdempotent(store, request, slow(2_000), { onClaimLost });
    await vi.advanceTimersByTimeAsync(1_000);
    store.record!.claim = 'claim-of-the-retry';
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(onClaimLost).toHaveBeenCalledTimes(1);
    expect(store.record?.response).toBeUndefined();
  });

  it('complete waits for a renewal under way, so the two never race', async () => {
    let finishRenewal!: (held: boolean) => void;
    store.renewOverride = () => new Promise((resolve) => (finishRenewal = resolve));
    const running = runIdempotent(store, request, slow(5_000));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.calls).toEqual(['begin@0', 'renew@4000']);
    finishRenewal(true);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(store.calls).toEqual(['begin@0', 'renew@4000', 'complete@5000']);
  });

  it('a callback that throws stops nothing else and is no unhandled rejection', async () => {
    const onClaimLost = () => {
      throw new Error('logger down');
    };
    const onStoreError = () => {
      throw new Error('logger down too');
    };
    const running = runIdempotent(store, request, slow(10_000), { onClaimLost, onStoreError });
    await vi.advanceTimersByTimeAsync(4_500);
    store.record!.claim = 'claim-of-the-retry';
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await running).toEqual({ state: 'fresh', response: ok });
    expect(renewals()).toEqual(['renew@4000', 'renew@8000']);
  });

  it('refuses a heartbeat interval that is not positive, before claiming anything', async () => {
    await expect(runIdempotent(store, request, slow(0), { heartbeatMs: 0 })).rejects.toThrow(/positive/);
    expect(store.calls).toEqual([]);
  });

  it('heartbeatMs overrides the interval', async () => {
    const running = runIdempotent(store, request, slow(2_500), { heartbeatMs: 1_000 });
    await vi.advanceTimersByTimeAsync(2_500);
    await running;
    expect(renewals()).toEqual(['renew@1000', 'renew@2000']);
  });
});
