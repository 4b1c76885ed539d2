import { ApiKeyExistsError, ApiKeyRecord, ApiKeyStore } from '@twinstore/application';

/** API keys in a Map (the ingest API's unit tests). Two stores given the same map behave as siblings. */
export class InMemoryApiKeyStore implements ApiKeyStore {
  /** Reads counted, so tests can see the verification cache at work. */
  reads = 0;

  constructor(readonly records = new Map<string, ApiKeyRecord>()) {}

  async create(record: ApiKeyRecord): Promise<void> {
    if (this.records.has(record.keyId)) throw new ApiKeyExistsError(record.keyId);
    this.records.set(record.keyId, copy(record));
  }

  async createIfEmpty(record: ApiKeyRecord): Promise<boolean> {
    if (this.records.size > 0) return false;
    this.records.set(record.keyId, copy(record));
    return true;
  }

  async get(keyId: string): Promise<ApiKeyRecord | null> {
    this.reads++;
    const record = this.records.get(keyId);
    return record ? copy(record) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return [...this.records.values()]
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.keyId < b.keyId ? -1 : 1))
      .map(copy);
  }

  async revoke(keyId: string, at: Date): Promise<boolean> {
    const record = this.records.get(keyId);
    if (!record) return false;
    record.revokedAt ??= new Date(at);
    return true;
  }

  async touch(keyId: string, at: Date): Promise<void> {
    const record = this.records.get(keyId);
    if (record && (!record.lastUsedAt || record.lastUsedAt < at)) record.lastUsedAt = new Date(at);
  }

  async close(): Promise<void> {}
}

function copy(record: ApiKeyRecord): ApiKeyRecord {
  return {
    ...record,
    scopes: [...record.scopes],
    createdAt: new Date(record.createdAt),
    ...(record.revokedAt ? { revokedAt: new Date(record.revokedAt) } : {}),
    ...(record.lastUsedAt ? { lastUsedAt: new Date(record.lastUsedAt) } : {}),
  };
}
