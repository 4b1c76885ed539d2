import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyExistsError, ApiKeyRecord, ApiKeyStore, newApiKey } from '@twinstore/application';

export interface ApiKeyStoreFixture {
  subject: ApiKeyStore;
  /** Another instance over the same storage (its own connection), as another process would have. */
  sibling(): Promise<ApiKeyStore>;
  /** Closes the subject and every sibling, and removes what the fixture stored. */
  cleanup(): Promise<void>;
}

const T0 = new Date(Date.UTC(2030, 0, 1, 12));
const at = (ms: number) => new Date(T0.getTime() + ms);

/** The behaviour every ApiKeyStore must have; each implementation's spec calls this once. */
export function describeApiKeyStoreContract(name: string, factory: () => Promise<ApiKeyStoreFixture>): void {
  describe(`ApiKeyStore contract: ${name}`, () => {
    let fx: ApiKeyStoreFixture;
    let store: ApiKeyStore;
    const record = (overrides: Partial<ApiKeyRecord> = {}, now = T0): ApiKeyRecord => ({
      ...newApiKey({ name: 'lms-prod', scopes: ['twins:write', 'search'], now }).record,
      ...overrides,
    });

    beforeEach(async () => {
      fx = await factory();
      store = fx.subject;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('keeps a created key exactly, and knows nothing of other ids', async () => {
      const r = record({ name: 'ünïcødé name ✓' });
      await store.create(r);
      expect(await store.get(r.keyId)).toEqual(r);
      expect(await store.get('0123456789abcdef')).toBeNull();
      expect(await store.get('not-a-key-id')).toBeNull();
    });

    it('refuses a second key with the same id and keeps the first', async () => {
      const r = record();
      await store.create(r);
      await expect(store.create({ ...r, name: 'other' })).rejects.toBeInstanceOf(ApiKeyExistsError);
      expect((await store.get(r.keyId))?.name).toBe('lms-prod');
    });

    it('lists every key, revoked ones included, oldest first', async () => {
      const a = record({}, at(2000));
      const b = record({}, at(1000));
      const c = record({}, at(3000));
      for (const r of [a, b, c]) await store.create(r);
      await store.revoke(c.keyId, at(4000));
      const listed = await store.list();
      expect(listed.map((r) => r.keyId)).toEqual([b.keyId, a.keyId, c.keyId]);
      expect(listed[2].revokedAt).toEqual(at(4000));
    });

    it('revokes once: the first revocation time stays; an unknown id is reported', async () => {
      const r = record();
      await store.create(r);
      expect(await store.revoke(r.keyId, at(1000))).toBe(true);
      expect(await store.revoke(r.keyId, at(2000))).toBe(true);
      expect((await store.get(r.keyId))?.revokedAt).toEqual(at(1000));
      expect(await store.revoke('0123456789abcdef', at(1000))).toBe(false);
    });

    it('records uses without moving lastUsedAt back or undoing a revocation', async () => {
      const r = record();
      await store.create(r);
      await store.touch(r.keyId, at(5000));
      expect((await store.get(r.keyId))?.lastUsedAt).toEqual(at(5000));
      await store.revoke(r.keyId, at(6000));
      await store.touch(r.keyId, at(7000));
      const after = await store.get(r.keyId);
      expect(after?.lastUsedAt).toEqual(at(7000));
      expect(after?.revokedAt).toEqual(at(6000));
      await store.touch('0123456789abcdef', at(1000)); // unknown: ignored
      expect(await store.get('0123456789abcdef')).toBeNull();
    });

    it('creates the first key only into an empty store, a revoked key counting as a key', async () => {
      const first = record({ scopes: ['admin'] });
      expect(await store.createIfEmpty(first)).toBe(true);
      expect(await store.createIfEmpty(record({ scopes: ['admin'] }))).toBe(false);
      await store.revoke(first.keyId, at(1000));
      expect(await store.createIfEmpty(record({ scopes: ['admin'] }))).toBe(false);
      expect(await store.list()).toHaveLength(1);
    });

    it('stores the hash it is given, never anything that contains the key', async () => {
      const issued = newApiKey({ name: 'n', scopes: ['admin'], now: T0 });
      await store.create(issued.record);
      const stored = JSON.stringify(await store.get(issued.record.keyId));
      const secret = issued.key.split('_').slice(2).join('_');
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(issued.key);
    });

    it('another instance over the same storage sees creations and revocations at once', async () => {
      const other = await fx.sibling();
      const r = record();
      await store.create(r);
      expect(await other.get(r.keyId)).toEqual(r);
      await other.revoke(r.keyId, at(1000));
      expect((await store.get(r.keyId))?.revokedAt).toEqual(at(1000));
    });
  });
}
