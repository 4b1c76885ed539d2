import { setTimeout as sleep } from 'node:timers/promises';
import {
  BulkOperationResult,
  ConnectionPolicy,
  Container,
  CosmosClient,
  IndexingPolicy,
  JSONObject,
  OperationInput,
} from '@azure/cosmos';
import { DefaultAzureCredential, TokenCredential } from '@azure/identity';
import {
  ApplyResult,
  BillingMeter,
  NO_BILLING_METER,
  TwinCatalog,
  UpsertOutcome,
} from '@twinstore/application';
import { parseLeadId, TwinRecord, Version } from '@twinstore/domain';
import {
  DOCUMENT_FIELDS,
  StoredTwinDocument,
  toDocument,
  tombstoneDocument,
  toRecord,
  TwinDocument,
} from './twin-document';

export interface CosmosTwinCatalogOptions {
  /** `https://{account}.documents.azure.com:443/` (or a local emulator). */
  endpoint: string;
  /** Account key; without it `credential` (DefaultAzureCredential when absent) is used with Entra ID. */
  key?: string;
  credential?: TokenCredential;
  /** Default `twinstore`. */
  database?: string;
  /** Default `twins`. */
  container?: string;
  /**
   * Passed to the SDK. Local stand-ins that advertise other endpoints than the one they listen on need
   * `{ enableEndpointDiscovery: false }`.
   */
  connectionPolicy?: Partial<ConnectionPolicy>;
  /** Attempts of a version-guarded write under contention before giving up (default 50). */
  maxConflictRetries?: number;
  /** Counts billable operations and request units (twins_billable_operations_total). */
  meter?: BillingMeter;
}

/** The container's partition key path; see docs/adr/0006-cosmos-partition-key.md. */
export const PARTITION_KEY_PATH = '/partition_key';
const DEFAULT_DATABASE = 'twinstore';
const DEFAULT_CONTAINER = 'twins';

/**
 * Free-form extra metadata is stored but never queried, so it is not indexed: indexing arbitrary nested JSON
 * costs write RUs on every upsert for nothing.
 */
export const INDEXING_POLICY: IndexingPolicy = {
  indexingMode: 'consistent',
  automatic: true,
  includedPaths: [{ path: '/*' }],
  excludedPaths: [{ path: '/metadata_extra/*' }, { path: '/"_etag"/?' }],
};

const PROJECTION = DOCUMENT_FIELDS.map((f) => `c.${f}`).join(', ');

/**
 * The hot catalog on Cosmos DB (NoSQL API): one document per lead, partitioned by leadId, so every guard is a
 * 1 RU point read plus one conditional write in a single logical partition.
 *
 * Version guard: read the lead's document, decide, then replace with If-Match on its ETag (or create, which
 * fails with 409 if a concurrent writer created it first); on 412/409 the decision is taken again on fresh
 * data. Cosmos has no server-side compare on arbitrary fields short of stored procedures, and this keeps the
 * adapter runnable on any Cosmos stand-in.
 */
export class CosmosTwinCatalog implements TwinCatalog {
  private readonly maxConflictRetries: number;
  private readonly meter: BillingMeter;

  constructor(
    readonly client: CosmosClient,
    readonly databaseId: string,
    readonly containerId: string,
    options: { maxConflictRetries?: number; meter?: BillingMeter } = {},
  ) {
    this.maxConflictRetries = options.maxConflictRetries ?? 50;
    this.meter = options.meter ?? NO_BILLING_METER;
  }

  get container(): Container {
    return this.client.database(this.databaseId).container(this.containerId);
  }

  /**
   * Creates the database and container when missing (no throughput set: serverless accounts refuse it, and
   * provisioned throughput belongs to the infrastructure code). Refuses a container partitioned otherwise.
   */
  async ensureContainer(): Promise<void> {
    // createIfNotExists is read-then-create: replicas starting together race, and the loser gets a 409 for a
    // resource that now exists, so a conflict means "look again".
    const { database } = await retryOnConflict(() =>
      this.client.databases.createIfNotExists({ id: this.databaseId }),
    );
    const { resource } = await retryOnConflict(() =>
      database.containers.createIfNotExists({
        id: this.containerId,
        partitionKey: { paths: [PARTITION_KEY_PATH] },
        indexingPolicy: INDEXING_POLICY,
      }),
    );
    const paths = resource?.partitionKey?.paths ?? [];
    if (paths.length !== 1 || paths[0] !== PARTITION_KEY_PATH) {
      throw new Error(
        `container ${this.containerId} is partitioned by ${paths.join(', ') || 'nothing'}, expected ${PARTITION_KEY_PATH}`,
      );
    }
  }

  upsert(record: TwinRecord): Promise<ApplyResult> {
    return this.guarded(record.leadId, (current) => decideUpsert(current, record));
  }

  /**
   * Bulk operations (executeBulkOperations), with the same guard as `upsert`: first a Create of every lead's
   * newest record, which alone settles a lead the container has never seen (one write); for the leads that
   * exist (409), a bulk Read, a decision on each, and a bulk Replace conditional on each document's ETag (or
   * Create where the document vanished meanwhile). Leads whose write met a concurrent one (412, 409, 404)
   * are read and decided again.
   */
  async upsertMany(records: readonly TwinRecord[]): Promise<UpsertOutcome[]> {
    const newest = new Map<string, TwinRecord>();
    for (const record of records) {
      // The leadId becomes the document's URL; only validated ids may get there.
      parseLeadId(record.leadId);
      const seen = newest.get(record.leadId);
      if (!seen || seen.version < record.version) newest.set(record.leadId, record);
    }
    const settled = new Map<string, UpsertOutcome>();
    const leads = [...newest.values()];
    const created = await this.bulk(
      'write',
      leads.map((r) => createOf(toDocument(r, undefined))),
    );
    let pending: TwinRecord[] = [];
    created.forEach((result, i) => {
      const record = leads[i];
      if (isSuccess(result))
        settled.set(record.leadId, { result: 'applied', hadRecord: false, tombstone: null });
      else if (bulkStatus(result) === 409) pending.push(record);
      else throw bulkError(result);
    });
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= this.maxConflictRetries) {
        throw new Error(`gave up after ${this.maxConflictRetries} conflicting writes to catalog documents`);
      }
      if (attempt > 0) await sleep(Math.random() * Math.min(100, 2 ** attempt));
      const reads = await this.bulk(
        'read',
        pending.map((r) => ({ operationType: 'Read', id: r.leadId, partitionKey: r.leadId })),
      );
      const writes: OperationInput[] = [];
      const writing: { record: TwinRecord; outcome: UpsertOutcome }[] = [];
      reads.forEach((result, i) => {
        const record = pending[i];
        const status = bulkStatus(result);
        if (status !== 200 && status !== 404) throw bulkError(result);
        const current =
          status === 200 ? (result.response!.resourceBody as unknown as StoredTwinDocument) : null;
        const outcome: UpsertOutcome = {
          result: 'applied',
          hadRecord: current !== null && toRecord(current) !== null,
          tombstone: current?.deleted_version ?? null,
        };
        const next = decideUpsert(current, record);
        if (next === null) settled.set(record.leadId, { ...outcome, result: 'stale' });
        else {
          writes.push(
            current
              ? {
                  operationType: 'Replace',
                  id: record.leadId,
                  partitionKey: record.leadId,
                  ifMatch: result.response!.eTag,
                  resourceBody: asJson(next),
                }
              : createOf(next),
          );
          writing.push({ record, outcome });
        }
      });
      const written = await this.bulk('write', writes);
      pending = [];
      written.forEach((result, i) => {
        const { record, outcome } = writing[i];
        const status = bulkStatus(result);
        if (isSuccess(result)) settled.set(record.leadId, outcome);
        // 412: replaced since our read; 409: created since our read; 404: deleted since our read.
        else if (status === 412 || status === 409 || status === 404) pending.push(record);
        else throw bulkError(result);
      });
    }
    // Older records of a lead in the same call lose to its newest, as they would one after the other.
    return records.map((record) => {
      const outcome = settled.get(record.leadId)!;
      return newest.get(record.leadId) === record ? outcome : { ...outcome, result: 'stale' };
    });
  }

  async get(leadId: string): Promise<TwinRecord | null> {
    const doc = await this.read(leadId);
    return doc ? toRecord(doc.resource) : null;
  }

  remove(leadId: string, version: Version): Promise<ApplyResult> {
    return this.guarded(leadId, (current) => {
      if (current?.deleted_version !== undefined && current.deleted_version >= version) return null;
      // A record at or above the deletion belongs to a write accepted after it, so it stays (tombstone noted).
      if (current && !current.deleted && current.version !== undefined && current.version >= version) {
        return { ...stripSystem(current), deleted_version: version };
      }
      return tombstoneDocument(leadId, version);
    });
  }

  async tombstone(leadId: string): Promise<Version | null> {
    const doc = await this.read(leadId);
    return doc?.resource.deleted_version ?? null;
  }

  /** One bulk Read of the leads' documents (a point read each). */
  async tombstones(leadIds: readonly string[]): Promise<Map<string, Version>> {
    const ids = [...new Set(leadIds)];
    for (const leadId of ids) parseLeadId(leadId);
    const reads = await this.bulk(
      'read',
      ids.map((id) => ({ operationType: 'Read', id, partitionKey: id })),
    );
    const found = new Map<string, Version>();
    reads.forEach((result, i) => {
      const status = bulkStatus(result);
      if (status === 404) return;
      if (status !== 200) throw bulkError(result);
      const deleted = (result.response!.resourceBody as unknown as StoredTwinDocument).deleted_version;
      if (deleted !== undefined) found.set(ids[i], deleted);
    });
    return found;
  }

  async count(): Promise<number> {
    const { resources, requestCharge } = await this.container.items
      .query<number>({ query: 'SELECT VALUE COUNT(1) FROM c WHERE NOT IS_DEFINED(c.deleted)' })
      .fetchAll();
    this.bill('query', requestCharge);
    // A cross-partition COUNT can come back as one partial count per partition range.
    return resources.reduce((sum, n) => sum + n, 0);
  }

  async list(options: { after?: string; limit: number }): Promise<TwinRecord[]> {
    if (!Number.isInteger(options.limit) || options.limit < 0) {
      throw new Error('limit must be a non-negative integer');
    }
    if (options.limit === 0) return [];
    // Keyset paging on id; OFFSET/LIMIT would cost RUs proportional to the offset (and stand-ins reject it).
    const iterator = this.container.items.query<TwinDocument>(
      {
        query: `SELECT TOP @limit ${PROJECTION} FROM c WHERE c.id > @after AND NOT IS_DEFINED(c.deleted) ORDER BY c.id`,
        parameters: [
          { name: '@limit', value: options.limit },
          { name: '@after', value: options.after ?? '' },
        ],
      },
      { maxItemCount: Math.min(options.limit, 1000) },
    );
    const out: TwinRecord[] = [];
    while (out.length < options.limit && iterator.hasMoreResults()) {
      const { resources, requestCharge } = await iterator.fetchNext();
      this.bill('query', requestCharge);
      for (const doc of resources) {
        const record = toRecord(doc);
        if (record) out.push(record);
      }
    }
    return out.slice(0, options.limit);
  }

  async close(): Promise<void> {
    this.client.dispose();
  }

  private async read(leadId: string): Promise<{ resource: StoredTwinDocument; etag: string } | null> {
    // The leadId becomes the document's URL; only validated ids may get there.
    parseLeadId(leadId);
    const response = await this.container.item(leadId, leadId).read<StoredTwinDocument>();
    this.bill('read', response.requestCharge);
    if (response.statusCode === 404 || !response.resource) return null;
    return { resource: response.resource, etag: response.etag };
  }

  /**
   * Read-decide-write with optimistic concurrency. `decide` returns the document to store, or null when the
   * change is stale; it is called again on fresh data whenever another writer got in between.
   */
  private async guarded(
    leadId: string,
    decide: (current: StoredTwinDocument | null) => TwinDocument | null,
  ): Promise<ApplyResult> {
    for (let attempt = 0; attempt < this.maxConflictRetries; attempt++) {
      const current = await this.read(leadId);
      const next = decide(current?.resource ?? null);
      if (next === null) return 'stale';
      try {
        if (current) {
          const replaced = await this.container
            .item(leadId, leadId)
            .replace(next, { accessCondition: { type: 'IfMatch', condition: current.etag } });
          this.bill('write', replaced.requestCharge);
        } else {
          this.bill('write', (await this.container.items.create(next)).requestCharge);
        }
        return 'applied';
      } catch (e) {
        this.bill(
          'write',
          Number((e as { headers?: Record<string, unknown> }).headers?.['x-ms-request-charge']),
        );
        const status = statusOf(e);
        // 412: replaced since our read; 409: created since our read; 404: deleted since our read.
        if (status !== 412 && status !== 409 && status !== 404) throw e;
        // Spread the retries of writers that collided, so they do not collide again in lockstep.
        await sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
    throw new Error(`gave up after ${this.maxConflictRetries} conflicting writes to one catalog document`);
  }

  /**
   * One executeBulkOperations call; each operation is billed as the request it stands for. Results come
   * back in the order of the operations.
   */
  private async bulk(
    operation: 'read' | 'write',
    operations: OperationInput[],
  ): Promise<BulkOperationResult[]> {
    if (operations.length === 0) return [];
    const results = await this.container.items.executeBulkOperations(operations);
    for (const result of results) {
      this.bill(operation, result.response?.requestCharge ?? chargeOf(result.error));
    }
    return results;
  }

  /** One billable request and the request units it was charged (from x-ms-request-charge). */
  private bill(operation: 'read' | 'write' | 'query', requestUnits: number | undefined): void {
    this.meter.record('cosmos', operation, 'hot');
    if (requestUnits && Number.isFinite(requestUnits))
      this.meter.record('cosmos', 'request_units', 'hot', requestUnits);
  }
}

/** The catalog on the account named by the options. Call ensureContainer() once at deployment or startup. */
export function createCosmosTwinCatalog(options: CosmosTwinCatalogOptions): CosmosTwinCatalog {
  if (!options.endpoint) throw new Error('createCosmosTwinCatalog needs an endpoint');
  const client = new CosmosClient({
    endpoint: options.endpoint,
    ...(options.key
      ? { key: options.key }
      : { aadCredentials: options.credential ?? new DefaultAzureCredential() }),
    connectionPolicy: options.connectionPolicy,
  });
  return new CosmosTwinCatalog(
    client,
    options.database ?? DEFAULT_DATABASE,
    options.container ?? DEFAULT_CONTAINER,
    { maxConflictRetries: options.maxConflictRetries, meter: options.meter },
  );
}

function decideUpsert(current: StoredTwinDocument | null, record: TwinRecord): TwinDocument | null {
  if (current?.deleted_version !== undefined && current.deleted_version >= record.version) return null;
  if (current && !current.deleted && current.version !== undefined && current.version >= record.version) {
    return null;
  }
  return toDocument(record, current?.deleted_version);
}

function createOf(doc: TwinDocument): OperationInput {
  return { operationType: 'Create', partitionKey: doc.partition_key, resourceBody: asJson(doc) };
}

function asJson(doc: TwinDocument): JSONObject {
  return doc as unknown as JSONObject;
}

function bulkStatus(result: BulkOperationResult): number | undefined {
  return result.response?.statusCode ?? statusOf(result.error);
}

function isSuccess(result: BulkOperationResult): boolean {
  const status = bulkStatus(result);
  return status !== undefined && status >= 200 && status < 300;
}

function bulkError(result: BulkOperationResult): Error {
  return (
    result.error ??
    new Error(
      `catalog bulk ${result.operationInput.operationType} answered ${bulkStatus(result) ?? 'nothing'}`,
    )
  );
}

function chargeOf(error: unknown): number | undefined {
  return Number(
    (error as { headers?: Record<string, unknown> } | undefined)?.headers?.['x-ms-request-charge'],
  );
}

function stripSystem(doc: StoredTwinDocument): TwinDocument {
  const out: Record<string, unknown> = {};
  for (const field of DOCUMENT_FIELDS) if (doc[field] !== undefined) out[field] = doc[field];
  return out as unknown as TwinDocument;
}

function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, statusCode } = e as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

async function retryOnConflict<T>(create: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (e) {
      if ((e as { code?: unknown }).code !== 409 || attempt >= attempts) throw e;
    }
  }
}
