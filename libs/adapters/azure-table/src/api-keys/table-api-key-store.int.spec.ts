import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '@twinstore/application';
import { describeApiKeyStoreContract, startAzurite, TestAzurite } from '@twinstore/testing';
import { apiKeyTableName, createTableApiKeyStore, TableApiKeyStore } from './table-api-key-store.adapter';

let azurite: TestAzurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A table per test (names: letters and digits only). */
async function openStore(table = `keys${randomBytes(6).toString('hex')}`): Promise<TableApiKeyStore> {
  const store = createTableApiKeyStore({ connectionString: azurite.connectionString, table });
  await store.ensureTable();
  return store;
}

describeApiKeyStoreContract('Azure Table (Azurite)', async () => {
  const table = `keys${randomBytes(6).toString('hex')}`;
  const subject = await openStore(table);
  return {
    subject,
    sibling: () => openStore(table),
    cleanup: async () => {
      await subject.table.deleteTable();
      await subject.close();
    },
  };
});

describe('TableApiKeyStore on Azurite', () => {
  it('stores the hash and the scopes, never the key', async () => {
    const store = await openStore();
    try {
      const { key, record } = await issueApiKey(store, { name: 'lms', scopes: ['twins:read', 'search'] });
      const raw = await store.table.getEntity<Record<string, unknown>>('apikey', record.keyId);
      expect(raw).toMatchObject({ Name: 'lms', Scopes: 'twins:read search', SecretHash: record.secretHash });
      expect(JSON.stringify(raw)).not.toContain(key.split('_').slice(2).join('_'));
    } finally {
      await store.table.deleteTable();
    }
  });

  it('names its table after the activity table, within 63 characters', () => {
    expect(apiKeyTableName('twinactivity')).toBe('twinactivitykeys');
    expect(apiKeyTableName('a'.repeat(63))).toHaveLength(63);
  });
});
