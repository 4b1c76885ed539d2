import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueApiKey } from '@twinstore/application';
import { describeApiKeyStoreContract, makeTempDir, TempDir } from '@twinstore/testing';
import { openSqliteApiKeyStore, SqliteApiKeyStore } from './sqlite-api-key-store.adapter';

describeApiKeyStoreContract('SqliteApiKeyStore', async () => {
  const tmp = await makeTempDir('sqlite-api-keys');
  const file = join(tmp.dir, 'api-keys.db');
  const opened: SqliteApiKeyStore[] = [];
  const open = () => {
    const store = openSqliteApiKeyStore({ file });
    opened.push(store);
    return store;
  };
  return {
    subject: open(),
    sibling: async () => open(),
    cleanup: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await tmp.cleanup();
    },
  };
});

describe('SqliteApiKeyStore', () => {
  let tmp: TempDir;
  let file: string;

  beforeEach(async () => {
    tmp = await makeTempDir('sqlite-api-keys-adapter');
    file = join(tmp.dir, 'api-keys.db');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('keeps only the hash on disk: the key and its secret appear nowhere in the file', async () => {
    const store = openSqliteApiKeyStore({ file });
    const { key, record } = await issueApiKey(store, { name: 'lms', scopes: ['twins:write'] });
    await store.close();
    const secret = key.split('_').slice(2).join('_');
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM api_keys').all() as Record<string, unknown>[];
      expect(rows).toHaveLength(1);
      expect(rows[0].key_id).toBe(record.keyId);
      expect(rows[0].secret_hash).toMatch(/^[0-9a-f]{64}$/);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(key);
    } finally {
      db.close();
    }
    // nor in any byte of the database files (WAL included)
    const { readdirSync, readFileSync } = await import('node:fs');
    for (const name of readdirSync(tmp.dir)) {
      const bytes = readFileSync(join(tmp.dir, name));
      expect(bytes.includes(Buffer.from(secret)), name).toBe(false);
    }
  });

  it('keeps keys across a reopen', async () => {
    const first = openSqliteApiKeyStore({ file });
    const { record } = await issueApiKey(first, { name: 'n', scopes: ['admin'] });
    await first.close();
    const again = openSqliteApiKeyStore({ file });
    expect(await again.get(record.keyId)).toEqual(record);
    await again.close();
  });
});
