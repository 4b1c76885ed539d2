import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { odata, TableClient } from '@azure/data-tables';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyStoreOptions,
  StoredResponse,
} from '@twinstore/application';
import { createTableClient, TableConnectionOptions } from '../table-client';

export interface TableIdempotencyStoreOptions extends IdempotencyStoreOptions, TableConnectionOptions {
  /** Default `twinidempotency`. */
  table?: string;
  /**
   * `begin` starts a background `purgeExpired` at most this often per instance (default 1 h; 0: never, purge
   * on a schedule of your own). Correctness does not depend on it: expired records are ignored anyway.
   */
  purgeIntervalMs?: number;
}

const DEFAULT_TABLE = 'twinidempotency';
/** A string property holds at most 64 KiB (32 K UTF-16 units); answers are split into chunks below that. */
const CHUNK_CHARS = 30_000;
/** An entity holds at most 1 MiB and 255 properties: a batch of 1000 results fits with room to spare. */
const MAX_CHUNKS = 16;
const MAX_CONFLICT_RETRIES = 20;

interface KeyEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  Scope: string;
  Key: string;
  RequestHash: string;
  State: 'in-flight' | 'done';
  Claim: string;
  LockedUntilMs: number;
  ExpiresAtMs: number;
  ResponseChunks: number;
  [chunk: `Response${number}`]: string;
}

/**
 * The table name of the idempotency records next to an activity table (`{activity}idem`, within the 63
 * characters a table name may have), so one storage setting serves both and test tables stay apart.
 */
export function idempotencyTableName(activityTable: string): string {
  return `${activityTable.slice(0, 59)}idem`;
}

/**
 * Idempotency keys on Azure Table Storage, shared by every ingest API instance. PartitionKey: 2 hex digits
 * of sha256(scope, key) (256 buckets); RowKey: the whole hash (keys may hold characters a RowKey may not).
 * Every decision is a point read then a conditional write (create: 409 if another got in; update and delete:
 * the read ETag, 412 if another got in): racing instances resolve to one claim. Answers are kept as JSON
 * split into `Response0..n` string properties. Expired records are ignored by `begin`; as Table Storage has
 * no TTL, `purgeExpired` scans for them, started in the background now and then (`purgeIntervalMs`).
 *
 * A claim is a short lease its holder renews while the request runs (`renew`), so the claim of an instance
 * that died (on another machine: nothing to ask whether it lives) lapses within one lease. Leases are
 * compared across machines: their clocks must agree to well within a lease (NTP keeps them far closer).
 */
export class TableIdempotencyStore implements IdempotencyStore {
  private readonly ttlMs: number;
  readonly leaseMs: number;
  private readonly now: () => number;
  private readonly purgeIntervalMs: number;
  private lastPurge: number;
  private purging?: Promise<unknown>;

  constructor(
    readonly table: TableClient,
    options: IdempotencyStoreOptions & { purgeIntervalMs?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
    this.leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
    this.now = options.now ?? Date.now;
    this.purgeIntervalMs = options.purgeIntervalMs ?? 60 * 60 * 1000;
    this.lastPurge = this.now();
    if (!(this.ttlMs > 0) || !(this.leaseMs > 0)) throw new Error('ttlMs and leaseMs must be positive');
  }

  /** Creates the table when missing. Idempotent. */
  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  async begin(key: string, scope: string, requestHash: string): Promise<IdempotencyBegin> {
    const { partitionKey, rowKey } = entityKeys(scope, key);
    this.maybePurge();
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const now = this.now();
      const current = await this.read(partitionKey, rowKey);
      const claim = randomUUID();
      try {
        if (!current || current.ExpiresAtMs <= now) {
          const entity: KeyEntity = {
            partitionKey,
            rowKey,
            Scope: scope,
            Key: key,
            RequestHash: requestHash,
            State: 'in-flight',
            Claim: claim,
            LockedUntilMs: now + this.leaseMs,
            ExpiresAtMs: now + this.ttlMs,
            ResponseChunks: 0,
          };
          if (current) await this.table.updateEntity(entity, 'Replace', { etag: current.etag });
          else await this.table.createEntity(entity);
          return { state: 'new', claim };
        }
        if (current.RequestHash !== requestHash) return { state: 'mismatch' };
        if (current.State === 'done') return { state: 'done', response: readResponse(current) };
        if (current.LockedUntilMs > now) return { state: 'in-flight' };
        // The holder's lease lapsed (it crashed, hung or lost the store for a whole lease): the key is ours now.
        await this.table.updateEntity(
          { partitionKey, rowKey, Claim: claim, LockedUntilMs: now + this.leaseMs },
          'Merge',
          { etag: current.etag },
        );
        return { state: 'new', claim };
      } catch (e) {
        await conflictPause(e, attempt);
      }
    }
    throw new Error(`gave up after ${MAX_CONFLICT_RETRIES} conflicting writes to one idempotency record`);
  }

  async complete(key: string, scope: string, claim: string, response: StoredResponse): Promise<boolean> {
    const { partitionKey, rowKey } = entityKeys(scope, key);
    const chunks = splitResponse(response);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.read(partitionKey, rowKey);
      if (!current || current.State !== 'in-flight' || current.Claim !== claim) return false;
      const entity: KeyEntity = { ...withoutResponse(current), State: 'done', Claim: '', ...chunks };
      try {
        await this.table.updateEntity(entity, 'Replace', { etag: current.etag });
        return true;
      } catch (e) {
        await conflictPause(e, attempt);
      }
    }
    throw new Error(`gave up after ${MAX_CONFLICT_RETRIES} conflicting writes to one idempotency record`);
  }

  async renew(key: string, scope: string, claim: string): Promise<boolean> {
    const { partitionKey, rowKey } = entityKeys(scope, key);
    const now = this.now();
    const current = await this.read(partitionKey, rowKey);
    if (!current || current.State !== 'in-flight' || current.Claim !== claim || current.ExpiresAtMs <= now) {
      return false;
    }
    try {
      await this.table.updateEntity({ partitionKey, rowKey, LockedUntilMs: now + this.leaseMs }, 'Merge', {
        etag: current.etag,
      });
      return true;
    } catch (e) {
      // Lost the race: besides the holder (which does not renew while it completes or releases), only a
      // takeover (a new claim) or a purge writes an in-flight record. Either way the claim is gone.
      if (statusOf(e) === 412 || statusOf(e) === 404) return false;
      throw e;
    }
  }

  async release(key: string, scope: string, claim: string): Promise<void> {
    const { partitionKey, rowKey } = entityKeys(scope, key);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.read(partitionKey, rowKey);
      if (!current || current.State !== 'in-flight' || current.Claim !== claim) return;
      try {
        await this.table.deleteEntity(partitionKey, rowKey, { etag: current.etag });
        return;
      } catch (e) {
        await conflictPause(e, attempt);
      }
    }
  }

  async purgeExpired(): Promise<number> {
    const now = this.now();
    const expired = this.table.listEntities<{ partitionKey: string; rowKey: string; etag: string }>({
      queryOptions: {
        filter: odata`ExpiresAtMs le ${now}`,
        select: ['PartitionKey', 'RowKey'],
      },
    });
    let purged = 0;
    for await (const entity of expired) {
      try {
        // Conditional: a record renewed after the scan is not purged.
        await this.table.deleteEntity(entity.partitionKey, entity.rowKey, { etag: entity.etag });
        purged++;
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 412) throw e;
      }
    }
    return purged;
  }

  async close(): Promise<void> {
    // The SDK holds no connection of its own beyond the shared keep-alive agent.
    this.lastPurge = Infinity;
    await this.purging;
  }

  private maybePurge(): void {
    const now = this.now();
    if (this.purgeIntervalMs <= 0 || this.purging || now - this.lastPurge < this.purgeIntervalMs) return;
    this.lastPurge = now;
    // Housekeeping only: a failed purge is retried at the next interval.
    this.purging = this.purgeExpired()
      .catch(() => undefined)
      .finally(() => (this.purging = undefined));
  }

  private async read(partitionKey: string, rowKey: string): Promise<(KeyEntity & { etag: string }) | null> {
    try {
      return await this.table.getEntity<KeyEntity & { etag: string }>(partitionKey, rowKey);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }
}

/** The store on the account named by the options. Call ensureTable() once at deployment or startup. */
export function createTableIdempotencyStore(options: TableIdempotencyStoreOptions): TableIdempotencyStore {
  const client = createTableClient(options, options.table ?? DEFAULT_TABLE, 'createTableIdempotencyStore');
  return new TableIdempotencyStore(client, options);
}

/** PartitionKey and RowKey of a record: derived from a hash, as keys and paths may hold `/`, `#`, `?`, `\`. */
export function entityKeys(scope: string, key: string): { partitionKey: string; rowKey: string } {
  const hash = createHash('sha256').update(scope).update('\n').update(key).digest('hex');
  return { partitionKey: hash.slice(0, 2), rowKey: hash };
}

function splitResponse(response: StoredResponse): Pick<KeyEntity, 'ResponseChunks'> & Record<string, string> {
  const text = JSON.stringify(response);
  const count = Math.ceil(text.length / CHUNK_CHARS);
  if (count > MAX_CHUNKS)
    throw new Error(`an idempotent answer may hold at most ${MAX_CHUNKS * CHUNK_CHARS} characters`);
  const chunks: Record<string, string> = {};
  for (let i = 0; i < count; i++) chunks[`Response${i}`] = text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  return { ResponseChunks: count, ...chunks } as Pick<KeyEntity, 'ResponseChunks'> & Record<string, string>;
}

function readResponse(entity: KeyEntity): StoredResponse {
  let text = '';
  for (let i = 0; i < entity.ResponseChunks; i++) text += entity[`Response${i}`];
  return JSON.parse(text) as StoredResponse;
}

function withoutResponse(entity: KeyEntity): KeyEntity {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) {
    if (
      !/^Response\d+$/.test(name) &&
      name !== 'etag' &&
      name !== 'timestamp' &&
      !name.startsWith('odata.')
    ) {
      out[name] = value;
    }
  }
  return out as unknown as KeyEntity;
}

/** 412 (changed since read), 409 (created since read), 404 (deleted since read): decide again, after a pause. */
async function conflictPause(e: unknown, attempt: number): Promise<void> {
  const status = statusOf(e);
  if (status !== 412 && status !== 409 && status !== 404) throw e;
  await sleep(Math.random() * Math.min(100, 2 ** attempt));
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}
