import { API_SCOPES, ApiKeyRecord, ApiScope, isApiScope, issueApiKey } from '@twinstore/application';
import { loadConfigOrExit, openApiKeyStore, TwinsConfig } from '@twinstore/platform';

export type KeysAction = 'create' | 'list' | 'revoke';

export interface KeysArgs {
  action: KeysAction;
  /** create: comma-separated scopes (`twins:write,search`). */
  scopes?: string;
  /** create: a label for people. */
  name?: string;
  /** revoke: the key id (the part after `tws_`, before the next `_`; `twins keys list` shows it). */
  keyId?: string;
  json?: boolean;
  out?: NodeJS.WritableStream;
  /** Default: the TWINS_* environment. */
  config?: TwinsConfig;
}

export class KeysUsageError extends Error {}

/** A key as listed: everything but the hash (which is no secret, but of no use to anyone reading a list). */
export interface ListedKey {
  keyId: string;
  name: string;
  scopes: ApiScope[];
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

/**
 * `twins keys create|list|revoke`: API keys of the HTTP API, in the store the configuration selects (the
 * SQLite file in the data directory, or Table Storage), the one the ingest API reads. `create` prints the
 * key once: only its hash is stored. A revocation reaches running ingest APIs within TWINS_AUTH_CACHE_TTL_MS.
 */
export async function keysCommand(args: KeysArgs): Promise<number> {
  const out = args.out ?? process.stdout;
  const scopes = args.action === 'create' ? parseScopes(args.scopes) : [];
  if (args.action === 'revoke' && !args.keyId) throw new KeysUsageError('keys revoke needs a key id');
  const store = await openApiKeyStore(args.config ?? loadConfigOrExit());
  try {
    switch (args.action) {
      case 'create': {
        const name = args.name ?? 'unnamed';
        const { key, record } = await issueApiKey(store, { name, scopes });
        if (args.json) {
          out.write(`${JSON.stringify({ ...listed(record), key }, null, 2)}\n`);
        } else {
          out.write(
            `created key ${record.keyId} (${name}) with scopes ${record.scopes.join(',')}\n` +
              `it is shown only this once and cannot be recovered: store it now\n${key}\n`,
          );
        }
        return 0;
      }
      case 'list': {
        const keys = (await store.list()).map(listed);
        if (args.json) {
          out.write(`${JSON.stringify(keys, null, 2)}\n`);
        } else {
          out.write(
            `${'key id'.padEnd(17)} ${'name'.padEnd(20)} ${'scopes'.padEnd(32)} ${'created'.padEnd(24)} ${'last used'.padEnd(24)} revoked\n`,
          );
          for (const k of keys) {
            out.write(
              `${k.keyId.padEnd(17)} ${k.name.slice(0, 20).padEnd(20)} ${k.scopes.join(',').padEnd(32)} ${k.createdAt.padEnd(24)} ${(k.lastUsedAt ?? '-').padEnd(24)} ${k.revokedAt ?? '-'}\n`,
            );
          }
        }
        return 0;
      }
      case 'revoke': {
        // a whole key pasted by mistake is reduced to its id, so the secret goes no further
        const keyId = /^tws_([0-9a-f]{16})_/.exec(args.keyId!)?.[1] ?? args.keyId!;
        const found = await store.revoke(keyId, new Date());
        if (args.json) out.write(`${JSON.stringify({ keyId, revoked: found })}\n`);
        else out.write(found ? `revoked key ${keyId}\n` : `no key ${keyId}\n`);
        return found ? 0 : 1;
      }
    }
  } finally {
    await store.close();
  }
}

function parseScopes(text: string | undefined): ApiScope[] {
  const scopes = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.length === 0) throw new KeysUsageError(`keys create needs --scopes (${API_SCOPES.join(', ')})`);
  const unknown = scopes.filter((s) => !isApiScope(s));
  if (unknown.length > 0) {
    throw new KeysUsageError(`unknown scope ${unknown.join(', ')} (known: ${API_SCOPES.join(', ')})`);
  }
  return scopes as ApiScope[];
}

function listed(record: ApiKeyRecord): ListedKey {
  return {
    keyId: record.keyId,
    name: record.name,
    scopes: record.scopes,
    createdAt: record.createdAt.toISOString(),
    ...(record.revokedAt ? { revokedAt: record.revokedAt.toISOString() } : {}),
    ...(record.lastUsedAt ? { lastUsedAt: record.lastUsedAt.toISOString() } : {}),
  };
}
