import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeySecretMatches, parseApiKey } from '@twinstore/application';
import { loadConfig, openApiKeyStore, TwinsConfig } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { keysCommand, KeysUsageError, ListedKey } from './keys.command';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

describe('twins keys (embedded store)', () => {
  let tmp: TempDir;
  let config: TwinsConfig;

  beforeEach(async () => {
    tmp = await makeTempDir('keys-command');
    config = loadConfig({ TWINS_DATA_DIR: tmp.dir });
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  const run = async (args: Omit<Parameters<typeof keysCommand>[0], 'out' | 'config'>) => {
    const out = new Sink();
    const code = await keysCommand({ ...args, out, config });
    return { code, text: out.text };
  };

  it('create prints the key once; the store holds its hash, and the scopes asked for', async () => {
    const { code, text } = await run({ action: 'create', scopes: 'twins:write, search', name: 'lms' });
    expect(code).toBe(0);
    const key = /^(tws_\S+)$/m.exec(text)![1];
    expect(text).toMatch(/shown only this once/);
    const { keyId, secret } = parseApiKey(key)!;
    const store = await openApiKeyStore(config);
    try {
      const record = (await store.get(keyId))!;
      expect(record).toMatchObject({ name: 'lms', scopes: ['twins:write', 'search'] });
      expect(record.secretHash).not.toContain(secret);
      expect(apiKeySecretMatches(secret, record.secretHash)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('list shows every key without secrets; revoke marks one revoked', async () => {
    const a = JSON.parse((await run({ action: 'create', scopes: 'admin', json: true })).text) as ListedKey & {
      key: string;
    };
    const b = JSON.parse(
      (await run({ action: 'create', scopes: 'twins:read', name: 'reader', json: true })).text,
    ) as ListedKey & { key: string };
    expect(a.key).toMatch(/^tws_[0-9a-f]{16}_/);

    const listed = await run({ action: 'list', json: true });
    const keys = JSON.parse(listed.text) as ListedKey[];
    expect(keys.map((k) => [k.keyId, k.name, k.scopes])).toEqual([
      [a.keyId, 'unnamed', ['admin']],
      [b.keyId, 'reader', ['twins:read']],
    ]);
    for (const k of [a.key, b.key]) expect(listed.text).not.toContain(parseApiKey(k)!.secret);
    expect(listed.text).not.toMatch(/hash/i);

    const table = await run({ action: 'list' });
    expect(table.text).toContain(b.keyId);
    expect(table.text).toContain('reader');
    expect(table.text).not.toContain(parseApiKey(b.key)!.secret);

    expect(await run({ action: 'revoke', keyId: b.keyId })).toEqual({
      code: 0,
      text: `revoked key ${b.keyId}\n`,
    });
    const after = JSON.parse((await run({ action: 'list', json: true })).text) as ListedKey[];
    expect(after[1].revokedAt).toEqual(expect.any(String));
    expect(after[0].revokedAt).toBeUndefined();
  });

  it('revoke reduces a pasted whole key to its id, and says when there is no such key', async () => {
    const created = JSON.parse((await run({ action: 'create', scopes: 'search', json: true })).text) as {
      keyId: string;
      key: string;
    };
    const revoked = await run({ action: 'revoke', keyId: created.key });
    expect(revoked.code).toBe(0);
    expect(revoked.text).not.toContain(parseApiKey(created.key)!.secret);
    expect(await run({ action: 'revoke', keyId: '0123456789abcdef' })).toEqual({
      code: 1,
      text: 'no key 0123456789abcdef\n',
    });
  });

  it('refuses unknown or missing scopes and a revoke without id', async () => {
    await expect(run({ action: 'create', scopes: 'twins:write,root' })).rejects.toThrow(KeysUsageError);
    await expect(run({ action: 'create' })).rejects.toThrow(/needs --scopes/);
    await expect(run({ action: 'revoke' })).rejects.toThrow(KeysUsageError);
  });
});
