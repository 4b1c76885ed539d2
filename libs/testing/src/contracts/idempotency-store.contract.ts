import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IdempotencyStore, StoredResponse } from '@twinstore/application';

export const CONTRACT_IDEMPOTENCY_TTL_MS = 60_000;
export const CONTRACT_IDEMPOTENCY_LEASE_MS = 5_000;

/** What the contract hands each fixture: build the subject on this clock, with these durations. */
export interface IdempotencyStoreContractOptions {
  now: () => number;
  ttlMs: number;
  leaseMs: number;
}

export interface IdempotencyStoreFixture {
  subject: IdempotencyStore;
  /** Another instance over the same storage (its own connection), as another process would have. */
  sibling(): Promise<IdempotencyStore>;
  /** Closes the subject and every sibling, and removes what the fixture stored. */
  cleanup(): Promise<void>;
}

const SCOPE = 'PUT /v1/twins/lead-1';
const accepted = (version: string): StoredResponse => ({
  status: 202,
  headers: { etag: `"${version}"`, location: `/v1/twins/lead-1?minVersion=${version}` },
  body: { leadId: 'lead-1', version, status: 'accepted', note: 'ünïcødé ✓' },
});

/** The behaviour every IdempotencyStore must have; each implementation's spec calls this once. */
export function describeIdempotencyStoreContract(
  name: string,
  factory: (options: IdempotencyStoreContractOptions) => Promise<IdempotencyStoreFixture>,
): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    let fx: IdempotencyStoreFixture;
    let store: IdempotencyStore;
    let clockMs: number;
    let key: string;
    const advance = (ms: number) => (clockMs += ms);

    beforeEach(async () => {
      clockMs = Date.UTC(2030, 0, 1);
      key = `key-${randomUUID()}`;
      fx = await factory({
        now: () => clockMs,
        ttlMs: CONTRACT_IDEMPOTENCY_TTL_MS,
        leaseMs: CONTRACT_IDEMPOTENCY_LEASE_MS,
      });
      store = fx.subject;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    const claimOf = async (k = key, scope = SCOPE, hash = 'h1'): Promise<string> => {
      const begun = await store.begin(k, scope, hash);
      expect(begun.state).toBe('new');
      return (begun as { claim: string }).claim;
    };

    it('a new key is claimed; the same request again, while it runs, is in flight', async () => {
      const begun = await store.begin(key, SCOPE, 'h1');
      expect(begun).toEqual({ state: 'new', claim: expect.any(String) });
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
    });

    it('after complete, the same request gets the stored answer, exactly, every time', async () => {
      const claim = await claimOf();
      expect(await store.complete(key, SCOPE, claim, accepted('V1'))).toBe(true);
      for (let i = 0; i < 3; i++) {
        expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V1') });
      }
    });

    it('the same key with another request is a mismatch, while in flight and once done', async () => {
      const claim = await claimOf();
      expect(await store.begin(key, SCOPE, 'h2')).toEqual({ state: 'mismatch' });
      await store.complete(key, SCOPE, claim, accepted('V1'));
      expect(await store.begin(key, SCOPE, 'h2')).toEqual({ state: 'mismatch' });
      expect(await store.begin(key, SCOPE, 'h1')).toMatchObject({ state: 'done' });
    });

    it('keys are scoped: the same key on another resource is another record', async () => {
      const claim = await claimOf();
      await store.complete(key, SCOPE, claim, accepted('V1'));
      expect(await store.begin(key, 'PUT /v1/twins/lead-2', 'h2')).toMatchObject({ state: 'new' });
      expect(await store.begin(key, 'POST /v1/twins:batch', 'h1')).toMatchObject({ state: 'new' });
    });

    it('release lets the request run again; a claim that is not the holder releases nothing', async () => {
      const claim = await claimOf();
      await store.release(key, SCOPE, 'not-the-claim');
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      await store.release(key, SCOPE, claim);
      const again = await store.begin(key, SCOPE, 'h2');
      expect(again).toMatchObject({ state: 'new' });
    });

    it('release after complete keeps the answer', async () => {
      const claim = await claimOf();
      await store.complete(key, SCOPE, claim, accepted('V1'));
      await store.release(key, SCOPE, claim);
      expect(await store.begin(key, SCOPE, 'h1')).toMatchObject({ state: 'done' });
    });

    it('a claim whose lease lapsed is taken over by the same request; the old holder can no longer store', async () => {
      const first = await claimOf();
      advance(CONTRACT_IDEMPOTENCY_LEASE_MS - 1);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      advance(2);
      expect(await store.begin(key, SCOPE, 'h2')).toEqual({ state: 'mismatch' });
      const second = await store.begin(key, SCOPE, 'h1');
      expect(second).toEqual({ state: 'new', claim: expect.any(String) });
      const claim = (second as { claim: string }).claim;
      expect(claim).not.toBe(first);
      await store.release(key, SCOPE, first);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      expect(await store.complete(key, SCOPE, first, accepted('V-old'))).toBe(false);
      expect(await store.complete(key, SCOPE, claim, accepted('V-new'))).toBe(true);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V-new') });
    });

    it('renew keeps a claim for as long as its holder renews it, past any number of leases', async () => {
      const other = await fx.sibling();
      const claim = await claimOf();
      expect(store.leaseMs).toBe(CONTRACT_IDEMPOTENCY_LEASE_MS);
      for (let i = 0; i < 4; i++) {
        // Just before the lease (counted from the last renewal) lapses: from the second round on, long past
        // the lease of the claim itself.
        advance(CONTRACT_IDEMPOTENCY_LEASE_MS - 1);
        expect(await other.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
        expect(await store.renew(key, SCOPE, claim)).toBe(true);
      }
      advance(CONTRACT_IDEMPOTENCY_LEASE_MS - 1);
      expect(await other.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      expect(await store.complete(key, SCOPE, claim, accepted('V1'))).toBe(true);
      expect(await other.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V1') });
    });

    it('renew fails for a claim that does not hold the key: unknown, completed, released or expired', async () => {
      expect(await store.renew(key, SCOPE, 'no-such-claim')).toBe(false);
      const claim = await claimOf();
      expect(await store.renew(key, SCOPE, 'not-the-claim')).toBe(false);
      expect(await store.renew(key, 'PUT /v1/twins/lead-2', claim)).toBe(false);
      expect(await store.renew(key, SCOPE, claim)).toBe(true);
      await store.complete(key, SCOPE, claim, accepted('V1'));
      expect(await store.renew(key, SCOPE, claim)).toBe(false);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V1') });

      const released = await claimOf('released-key');
      await store.release('released-key', SCOPE, released);
      expect(await store.renew('released-key', SCOPE, released)).toBe(false);
      expect(await store.begin('released-key', SCOPE, 'h1')).toMatchObject({ state: 'new' });

      const expiring = await claimOf('expiring-key');
      advance(CONTRACT_IDEMPOTENCY_TTL_MS);
      expect(await store.renew('expiring-key', SCOPE, expiring)).toBe(false);
    });

    it('a claim not renewed lapses after one lease and is taken over; the old holder can no longer renew', async () => {
      const other = await fx.sibling();
      const dead = await claimOf();
      advance(CONTRACT_IDEMPOTENCY_LEASE_MS - 1);
      expect(await other.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      advance(1);
      const retry = await other.begin(key, SCOPE, 'h1');
      expect(retry).toEqual({ state: 'new', claim: expect.any(String) });
      const claim = (retry as { claim: string }).claim;
      expect(await store.renew(key, SCOPE, dead)).toBe(false);
      expect(await other.renew(key, SCOPE, claim)).toBe(true);
      expect(await store.complete(key, SCOPE, dead, accepted('V-dead'))).toBe(false);
      expect(await other.complete(key, SCOPE, claim, accepted('V-retry'))).toBe(true);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V-retry') });
    });

    it('a holder late to renew keeps its claim if no one took the key over meanwhile', async () => {
      const claim = await claimOf();
      advance(CONTRACT_IDEMPOTENCY_LEASE_MS + 1);
      expect(await store.renew(key, SCOPE, claim)).toBe(true);
      expect(await store.begin(key, SCOPE, 'h1')).toEqual({ state: 'in-flight' });
      expect(await store.complete(key, SCOPE, claim, accepted('V1'))).toBe(true);
    });

    it('an answer is forgotten once it expires: the key may then be used afresh', async () => {
      const claim = await claimOf();
      await store.complete(key, SCOPE, claim, accepted('V1'));
      advance(CONTRACT_IDEMPOTENCY_TTL_MS - 1);
      expect(await store.begin(key, SCOPE, 'h2')).toEqual({ state: 'mismatch' });
      advance(1);
      expect(await store.begin(key, SCOPE, 'h2')).toMatchObject({ state: 'new' });
    });

    it('purgeExpired deletes only expired records', async () => {
      const old = await claimOf('old-key');
      await store.complete('old-key', SCOPE, old, accepted('V1'));
      advance(CONTRACT_IDEMPOTENCY_TTL_MS / 2);
      const fresh = await claimOf('fresh-key');
      await store.complete('fresh-key', SCOPE, fresh, accepted('V2'));
      advance(CONTRACT_IDEMPOTENCY_TTL_MS / 2);
      expect(await store.purgeExpired()).toBeGreaterThanOrEqual(1);
      expect(await store.begin('fresh-key', SCOPE, 'h1')).toEqual({
        state: 'done',
        response: accepted('V2'),
      });
      expect(await store.begin('old-key', SCOPE, 'other')).toMatchObject({ state: 'new' });
      expect(await store.purgeExpired()).toBe(0);
    });

    it('keys of 255 printable characters, quotes, slashes and percent signs included, are distinct', async () => {
      const keys = [
        'k'.repeat(254) + '~',
        'k'.repeat(254) + '!',
        `it's "quoted" / 100% \\ {odd} #1`,
        `it's "quoted" / 100% \\ {odd} #2`,
      ];
      for (const k of keys) {
        const claim = await claimOf(k);
        await store.complete(k, SCOPE, claim, accepted(k.slice(-2)));
      }
      for (const k of keys) {
        expect(await store.begin(k, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted(k.slice(-2)) });
      }
    });

    it('many concurrent begins of one key, over two instances, give exactly one claim', async () => {
      const other = await fx.sibling();
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 ? other : store).begin(key, SCOPE, 'h1')),
      );
      expect(results.filter((r) => r.state === 'new')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'in-flight')).toHaveLength(23);
      const claim = (results.find((r) => r.state === 'new') as { claim: string }).claim;
      await store.complete(key, SCOPE, claim, accepted('V1'));
      expect(await other.begin(key, SCOPE, 'h1')).toEqual({ state: 'done', response: accepted('V1') });
    });
  });
}
