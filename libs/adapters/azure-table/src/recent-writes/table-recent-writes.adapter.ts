import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { odata, TableClient, TransactionAction, UpdateEntityAction } from '@azure/data-tables';
import { RECENT_WRITES_HORIZON_MS, RecentWrites, RecentWritesOptions } from '@twinstore/application';
import { parseVersion, TwinRecord, Version } from '@twinstore/domain';
import { createTableClient, TableConnectionOptions } from '../table-client';

export interface TableRecentWritesOptions extends RecentWritesOptions, TableConnectionOptions {
  /** Default `twinrecentwrites`. */
  table?: string;
  /**
   * Notes start a background prune of expired entries at most this often per instance (default a tenth of
   * the horizon; 0: never). Correctness does not depend on it: expired entries are ignored on read.
   */
  pruneIntervalMs?: number;
}

const DEFAULT_TABLE = 'twinrecentwrites';
/** Leads spread over this many partitions: a batch of 100 saves is at most this many transactions. */
const PARTITIONS = 16;
/** Entity-group transactions hold at most 100 actions. */
const MAX_TRANSACTION = 100;
/** A string property holds at most 64 KiB (32 K UTF-16 units): records are split into chunks below that. */
const CHUNK_CHARS = 30_000;
const MAX_CONFLICT_RETRIES = 10;
const PRUNE_CONCURRENCY = 8;

/** Besides these, `Record0..n`: the record as JSON in string chunks. */
interface Entity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  Version: string;
  Deleted: boolean;
  NotedAtMs: number;
  RecordChunks: number;
  [property: string]: unknown;
}

/** The table name next to an activity table (`{activity}rw`), so one storage setting serves both. */
export function recentWritesTableName(activityTable: string): string {
  return `${activityTable.slice(0, 61)}rw`;
}

/**
 * RecentWrites on Azure Table Storage, for deployments without Redis. One entity per lead: PartitionKey one
 * hex digit of sha256(leadId) (16 partitions), RowKey the leadId (lead ids are valid RowKeys). A batch is
 * grouped by partition into entity-group transactions of up to 100 creates: the usual case (a lead not noted
 * within the horizon) costs one transaction per partition. When a lead already has an entity the group's
 * transaction fails as a whole; the group is then read and written again as creates, ETag-conditional
 * replaces of older versions, and nothing for leads already at a newer version (409/412: read again). Table
 * Storage has no TTL: expired entities are ignored on read and a background prune deletes them.
 */
export class TableRecentWrites implements RecentWrites {
  private readonly horizonMs: number;
  private readonly now: () => number;
  private readonly pruneIntervalMs: number;
  private lastPrune: number;
  private pruning?: Promise<unknown>;

  constructor(
    readonly table: TableClient,
    options: RecentWritesOptions & { pruneIntervalMs?: number } = {},
  ) {
    this.horizonMs = options.horizonMs ?? RECENT_WRITES_HORIZON_MS;
    if (!(this.horizonMs > 0)) throw new RangeError('horizonMs must be positive');
    this.now = options.now ?? Date.now;
    this.pruneIntervalMs = options.pruneIntervalMs ?? this.horizonMs / 10;
    this.lastPrune = this.now();
  }

  /** Creates the table when missing. Idempotent. */
  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  async note(records: readonly TwinRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.maybePrune();
    const newest = new Map<string, TwinRecord>();
    for (const r of records) {
      parseVersion(r.version);
      const seen = newest.get(r.leadId);
      if (!seen || seen.version < r.version) newest.set(r.leadId, r);
    }
    const notedAt = this.now();
    const groups = new Map<string, Entity[]>();
    for (const r of newest.values()) {
      const entity = toEntity(r.leadId, r.version, notedAt, r);
      const group = groups.get(entity.partitionKey) ?? [];
      group.push(entity);
      groups.set(entity.partitionKey, group);
    }
    const chunks = [...groups.values()].flatMap((g) => chunk(g, MAX_TRANSACTION));
    await Promise.all(chunks.map((c) => this.write(c)));
  }

  async latest(leadId: string): Promise<TwinRecord | null> {
    const entity = await this.read(partitionOf(leadId), leadId);
    if (!entity || entity.Deleted || this.now() - entity.NotedAtMs >= this.horizonMs) return null;
    let text = '';
    for (let i = 0; i < entity.RecordChunks; i++) text += entity[`Record${i}`] as string;
    return JSON.parse(text) as TwinRecord;
  }

  async forget(leadId: string, version: Version): Promise<void> {
    await this.write([toEntity(leadId, parseVersion(version), this.now())]);
  }

  /** Deletes the entities older than the horizon; returns how many. */
  async pruneExpired(): Promise<number> {
    const expired = this.table.listEntities<{ partitionKey: string; rowKey: string; etag: string }>({
      queryOptions: {
        filter: odata`NotedAtMs le ${this.now() - this.horizonMs}`,
        select: ['PartitionKey', 'RowKey'],
      },
    });
    let pruned = 0;
    for await (const page of expired.byPage({ maxPageSize: 1000 })) {
      let next = 0;
      // One conditional delete per entity: a transaction's deletes cannot carry an ETag, and an entity noted
      // again between the scan and the delete must stay.
      const worker = async () => {
        while (next < page.length) {
          const e = page[next++];
          try {
            await this.table.deleteEntity(e.partitionKey, e.rowKey, { etag: e.etag });
            pruned++;
          } catch (error) {
            if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: PRUNE_CONCURRENCY }, worker));
    }
    return pruned;
  }

  async close(): Promise<void> {
    // The SDK holds no connection of its own beyond the shared keep-alive agent.
    this.lastPrune = Infinity;
    await this.pruning;
  }

  /** Writes one partition's group: creates first, then a read and conditional writes if any lead exists. */
  private async write(group: Entity[]): Promise<void> {
    try {
      await this.submit(group.map((e): TransactionAction => ['create', e]));
      return;
    } catch (e) {
      if (statusOf(e) !== 409) throw e;
    }
    for (let attempt = 0; ; attempt++) {
      const current = await Promise.all(group.map((e) => this.read(e.partitionKey, e.rowKey)));
      const actions: TransactionAction[] = [];
      group.forEach((entity, i) => {
        const stored = current[i];
        if (!stored) actions.push(['create', entity]);
        else if (stored.Version < entity.Version) {
          actions.push(['update', entity, 'Replace', { etag: stored.etag }]);
        }
      });
      if (actions.length === 0) return;
      try {
        await this.submit(actions);
        return;
      } catch (e) {
        const status = statusOf(e);
        if ((status !== 409 && status !== 412 && status !== 404) || attempt >= MAX_CONFLICT_RETRIES) throw e;
        await sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
  }

  private async submit(actions: TransactionAction[]): Promise<void> {
    if (actions.length === 1) {
      // A lone action as a plain request: the same billing, a smaller request.
      const action = actions[0];
      if (action[0] === 'create') await this.table.createEntity(action[1]);
      else {
        const [, entity, mode, options] = action as UpdateEntityAction;
        await this.table.updateEntity(entity, mode, options);
      }
      return;
    }
    await this.table.submitTransaction(actions);
  }

  private async read(partitionKey: string, rowKey: string): Promise<(Entity & { etag: string }) | null> {
    try {
      return await this.table.getEntity<Entity & { etag: string }>(partitionKey, rowKey);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  private maybePrune(): void {
    const now = this.now();
    if (this.pruneIntervalMs <= 0 || this.pruning || now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    // Housekeeping only: a failed prune is retried at the next interval.
    this.pruning = this.pruneExpired()
      .catch(() => undefined)
      .finally(() => (this.pruning = undefined));
  }
}

/** The store on the account named by the options. Call ensureTable() once at deployment or startup. */
export function createTableRecentWrites(options: TableRecentWritesOptions): TableRecentWrites {
  const client = createTableClient(options, options.table ?? DEFAULT_TABLE, 'createTableRecentWrites');
  return new TableRecentWrites(client, options);
}

function partitionOf(leadId: string): string {
  return (createHash('sha256').update(leadId).digest()[0] % PARTITIONS).toString(16);
}

/** A lead's entity: its record, or (without one) its deletion. */
function toEntity(leadId: string, version: Version, notedAt: number, record?: TwinRecord): Entity {
  const entity: Entity = {
    partitionKey: partitionOf(leadId),
    rowKey: leadId,
    Version: version,
    Deleted: !record,
    NotedAtMs: notedAt,
    RecordChunks: 0,
  };
  if (record) {
    const text = JSON.stringify(record);
    entity.RecordChunks = Math.ceil(text.length / CHUNK_CHARS);
    for (let i = 0; i < entity.RecordChunks; i++) {
      entity[`Record${i}`] = text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
    }
  }
  return entity;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}
