import { TableClient } from '@azure/data-tables';
import { ApiKeyExistsError, ApiKeyRecord, ApiKeyStore, ApiScope } from '@twinstore/application';
import { createTableClient, TableConnectionOptions } from '../table-client';

export interface TableApiKeyStoreOptions extends TableConnectionOptions {
  /** Default `twinapikeys`. */
  table?: string;
}

const DEFAULT_TABLE = 'twinapikeys';
/** Every key in one partition: a deployment has tens of keys, and `list` is then one partition query. */
const PARTITION = 'apikey';

interface KeyEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  Name: string;
  Scopes: string;
  SecretHash: string;
  CreatedAtMs: number;
  RevokedAtMs?: number;
  LastUsedAtMs?: number;
}

/** The table of API keys next to an activity table (`{activity}keys`, within the 63 characters allowed). */
export function apiKeyTableName(activityTable: string): string {
  return `${activityTable.slice(0, 59)}keys`;
}

/**
 * API keys on Azure Table Storage, shared by every ingest API instance. PartitionKey `apikey`, RowKey the
 * keyId (16 hex digits). Only the secret's hash is stored. Revocation is a conditional merge (the read ETag),
 * so the first revocation time is kept when two operators revoke at once.
 */
export class TableApiKeyStore implements ApiKeyStore {
  constructor(readonly table: TableClient) {}

  /** Creates the table when missing. Idempotent. */
  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  async create(record: ApiKeyRecord): Promise<void> {
    try {
      await this.table.createEntity(toEntity(record));
    } catch (e) {
      if (statusOf(e) === 409) throw new ApiKeyExistsError(record.keyId);
      throw e;
    }
  }

  /**
   * Not atomic across instances (Table Storage cannot condition a write on a partition being empty). It is
   * only used for the embedded profile's first-start key; on Azure operators create keys with the CLI.
   */
  async createIfEmpty(record: ApiKeyRecord): Promise<boolean> {
    const first = this.table
      .listEntities({ queryOptions: { select: ['RowKey'] } })
      .byPage({ maxPageSize: 1 });
    for await (const page of first) {
      if (page.length > 0) return false;
      break;
    }
    try {
      await this.create(record);
      return true;
    } catch (e) {
      if (e instanceof ApiKeyExistsError) return false;
      throw e;
    }
  }

  async get(keyId: string): Promise<ApiKeyRecord | null> {
    const entity = await this.read(keyId);
    return entity ? fromEntity(entity) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const records: ApiKeyRecord[] = [];
    for await (const entity of this.table.listEntities<KeyEntity>()) records.push(fromEntity(entity));
    return records.sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.keyId < b.keyId ? -1 : 1),
    );
  }

  async revoke(keyId: string, at: Date): Promise<boolean> {
    for (;;) {
      const current = await this.read(keyId);
      if (!current) return false;
      if (current.RevokedAtMs !== undefined && current.RevokedAtMs !== null) return true;
      try {
        await this.table.updateEntity(
          { partitionKey: PARTITION, rowKey: keyId, RevokedAtMs: at.getTime() },
          'Merge',
          { etag: current.etag },
        );
        return true;
      } catch (e) {
        // changed since read (a touch or another revoke): decide again
        if (statusOf(e) !== 412) throw e;
      }
    }
  }

  async touch(keyId: string, at: Date): Promise<void> {
    try {
      // unconditional merge of one property: a touch never undoes a revocation, and an older touch landing
      // late only moves lastUsedAt back by less than the touch interval
      await this.table.updateEntity(
        { partitionKey: PARTITION, rowKey: keyId, LastUsedAtMs: at.getTime() },
        'Merge',
        { etag: '*' },
      );
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async close(): Promise<void> {
    // The SDK holds no connection of its own beyond the shared keep-alive agent.
  }

  private async read(keyId: string): Promise<(KeyEntity & { etag: string }) | null> {
    if (!/^[0-9a-f]{16}$/.test(keyId)) return null; // never a RowKey that could mean something else
    try {
      return await this.table.getEntity<KeyEntity & { etag: string }>(PARTITION, keyId);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }
}

/** The store on the account named by the options. Call ensureTable() once at deployment or startup. */
export function createTableApiKeyStore(options: TableApiKeyStoreOptions): TableApiKeyStore {
  return new TableApiKeyStore(
    createTableClient(options, options.table ?? DEFAULT_TABLE, 'createTableApiKeyStore'),
  );
}

function toEntity(record: ApiKeyRecord): KeyEntity {
  return {
    partitionKey: PARTITION,
    rowKey: record.keyId,
    Name: record.name,
    Scopes: record.scopes.join(' '),
    SecretHash: record.secretHash,
    CreatedAtMs: record.createdAt.getTime(),
    ...(record.revokedAt ? { RevokedAtMs: record.revokedAt.getTime() } : {}),
    ...(record.lastUsedAt ? { LastUsedAtMs: record.lastUsedAt.getTime() } : {}),
  };
}

function fromEntity(entity: KeyEntity): ApiKeyRecord {
  return {
    keyId: entity.rowKey,
    name: entity.Name,
    scopes: entity.Scopes.split(' ').filter(Boolean) as ApiScope[],
    secretHash: entity.SecretHash,
    createdAt: new Date(Number(entity.CreatedAtMs)),
    ...(typeof entity.RevokedAtMs === 'number' ? { revokedAt: new Date(entity.RevokedAtMs) } : {}),
    ...(typeof entity.LastUsedAtMs === 'number' ? { lastUsedAt: new Date(entity.LastUsedAtMs) } : {}),
  };
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}
