/**
 * API keys of the HTTP API. A key is `tws_<keyId>_<secret>`; only the secret's hash is stored, so a copy of
 * the store (a backup, a leaked table) grants nothing. `keyId` is public (logs, `twins keys list`), the secret
 * never leaves the one answer that created it.
 */
export const API_SCOPES = ['twins:write', 'twins:read', 'search', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiKeyRecord {
  /** 16 lower-case hex digits; unique. */
  keyId: string;
  /** A label for people (`lms-prod`), not a secret. */
  name: string;
  scopes: ApiScope[];
  /** Hex sha256 of the secret part of the key (see `hashApiKeySecret`). Never the key itself. */
  secretHash: string;
  createdAt: Date;
  /** Set once by `revoke`; a revoked key never authenticates again. */
  revokedAt?: Date;
  /** Roughly when the key was last used (written at most about once a minute per key and process). */
  lastUsedAt?: Date;
}

export class ApiKeyExistsError extends Error {
  constructor(readonly keyId: string) {
    super(`an API key with id ${keyId} exists already`);
    this.name = 'ApiKeyExistsError';
  }
}

export interface ApiKeyStore {
  /** Stores a new key; ApiKeyExistsError when its keyId is taken. */
  create(record: ApiKeyRecord): Promise<void>;
  /**
   * Stores the record only when the store holds no key at all, revoked ones included (the first-start admin
   * key: an operator who revoked it does not get a fresh one at every restart). Returns whether it did.
   */
  createIfEmpty(record: ApiKeyRecord): Promise<boolean>;
  get(keyId: string): Promise<ApiKeyRecord | null>;
  /** Every key, revoked ones included, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (the first revocation time is kept); false when there is no such key. */
  revoke(keyId: string, at: Date): Promise<boolean>;
  /** Records a use (never moves lastUsedAt back); a missing key is ignored. */
  touch(keyId: string, at: Date): Promise<void>;
  close(): Promise<void>;
}
