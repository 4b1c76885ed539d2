import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { ApiKeyStore, ApiScope, issueApiKey } from '@twinstore/application';

export type Inject = (options: InjectOptions) => Promise<LightMyRequestResponse>;

/**
 * `inject` that sends `Authorization: Bearer <key>` unless the request names a credential of its own
 * (`authorization` or `x-api-key`, in any case; an explicit `undefined` sends none).
 */
export function withApiKey(inject: Inject, key: string): Inject {
  return (options) => {
    const headers = { ...(options.headers ?? {}) } as Record<string, unknown>;
    const own = Object.keys(headers).some((h) => ['authorization', 'x-api-key'].includes(h.toLowerCase()));
    if (!own) headers.authorization = `Bearer ${key}`;
    return inject({ ...options, headers: headers as InjectOptions['headers'] });
  };
}

/** Headers carrying `key`, for `fetch` and raw requests. */
export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Stores a new key with these scopes (default admin) and returns the whole key. */
export async function testApiKey(
  store: ApiKeyStore,
  scopes: ApiScope[] = ['admin'],
  name = 'test',
): Promise<string> {
  return (await issueApiKey(store, { name, scopes })).key;
}
