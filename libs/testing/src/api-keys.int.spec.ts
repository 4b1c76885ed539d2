import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeySecretMatches, parseApiKey } from '@twinstore/application';
import { createTestApiKey } from './api-keys';
import { makeTempDir, TempDir } from './temp-dir';

describe('createTestApiKey', () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir('mint-api-key');
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('stores a key with the scopes asked for in the store the settings select (embedded: the data dir)', async () => {
    const key = await createTestApiKey({ TWINS_DATA_DIR: tmp.dir }, ['twins:read', 'search'], 'reader');
    const { keyId, secret } = parseApiKey(key)!;
    const db = new Database(join(tmp.dir, 'api-keys.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM api_keys WHERE key_id = ?').get(keyId) as Record<string, string>;
      expect(row).toMatchObject({ name: 'reader', scopes: 'twins:read search' });
      expect(apiKeySecretMatches(secret, row.secret_hash)).toBe(true);
    } finally {
      db.close();
    }
  }, 60_000);
});
