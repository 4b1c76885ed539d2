import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { API_SCOPES, ApiKeyRecord, ApiScope, ApiKeyStore } from '../ports/api-key-store.port';

export const API_KEY_PREFIX = 'tws_';
const API_KEY_PATTERN = /^tws_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** `admin` implies every scope. */
export function hasScope(granted: readonly string[], required: ApiScope): boolean {
  return granted.includes('admin') || granted.includes(required);
}

export function isApiScope(value: string): value is ApiScope {
  return (API_SCOPES as readonly string[]).includes(value);
}

/** The parts of a well-formed key, or null (anything else, including a JWT). */
export function parseApiKey(key: string): { keyId: string; secret: string } | null {
  const match = API_KEY_PATTERN.exec(key);
  return match ? { keyId: match[1], secret: match[2] } : null;
}

/**
 * sha256 of the secret, hex. A fast hash is right here, unlike for passwords: the secret is 32 random bytes
 * (256 bits), so guessing it from the hash is infeasible however fast each guess is; bcrypt or scrypt only
 * help low-entropy secrets, and would cost every request (or every cache miss) tens of milliseconds.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function apiKeySecretMatches(secret: string, secretHash: string): boolean {
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  const stored = Buffer.from(secretHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

export interface NewApiKey {
  /** The whole key: shown to its owner once, never stored. */
  key: string;
  record: ApiKeyRecord;
}

/** A fresh key and the record that stores its hash. */
export function newApiKey(input: { name: string; scopes: readonly ApiScope[]; now: Date }): NewApiKey {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const scopes = API_SCOPES.filter((s) => input.scopes.includes(s));
  if (scopes.length === 0) throw new RangeError('an API key needs at least one scope');
  return {
    key: `${API_KEY_PREFIX}${keyId}_${secret}`,
    record: { keyId, name: input.name, scopes, secretHash: hashApiKeySecret(secret), createdAt: input.now },
  };
}

/** Creates and stores a key; returns the key (to show once) and its record. */
export async function issueApiKey(
  store: ApiKeyStore,
  input: { name: string; scopes: readonly ApiScope[]; now?: Date },
): Promise<NewApiKey> {
  const issued = newApiKey({ ...input, now: input.now ?? new Date() });
  await store.create(issued.record);
  return issued;
}

/**
 * The credential a request carries: `Authorization: Bearer <credential>` or `X-Api-Key: <credential>`.
 * `''` for an Authorization header that is not a well-formed bearer (refused as malformed), undefined for none.
 */
export function credentialFromHeaders(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const authorization = headers['authorization'];
  if (typeof authorization === 'string') {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return match ? match[1] : '';
  }
  const header = headers['x-api-key'];
  const key = Array.isArray(header) ? header[0] : header;
  return typeof key === 'string' ? key.trim() : undefined;
}
