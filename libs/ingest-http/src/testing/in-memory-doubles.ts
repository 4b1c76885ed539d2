import type {
  ActivityStore,
  ApplyResult,
  BlobProperties,
  CachedTwin,
  ContentStore,
  EventBusAdmin,
  EventPublisher,
  EventSubscriber,
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyStoreOptions,
  PutBlobOptions,
  SearchIndex,
  SearchQuery,
  SearchResult,
  StoredResponse,
  TwinCache,
  TwinCatalog,
  UpsertOutcome,
} from '@twinstore/application';
import { IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS, PreconditionFailedError } from '@twinstore/application';
import type { TwinEvent } from '@twinstore/contracts';
import type { TwinRecord, Version } from '@twinstore/domain';

/** Test doubles for the ingest API's unit tests: only what the use cases need, kept in memory. */

export class InMemoryContentStore implements ContentStore {
  readonly blobs = new Map<string, { body: Buffer; properties: BlobProperties }>();
  /** Every successful put, in order (the tests assert that bad input wrote nothing). */
  readonly puts: string[] = [];
  /** When set, the next put throws it (to exercise the 500 path). */
  failNextPut?: Error;
  private etags = 0;

  async put(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }> {
    if (this.failNextPut) {
      const e = this.failNextPut;
      this.failNextPut = undefined;
      throw e;
    }
    const current = this.blobs.get(path);
    if (options.ifNoneMatch === '*' && current) throw new PreconditionFailedError(path);
    if (options.ifMatch !== undefined && current?.properties.etag !== options.ifMatch) {
      throw new PreconditionFailedError(path);
    }
    const etag = `"${++this.etags}"`;
    this.blobs.set(path, {
      body: Buffer.from(body),
      properties: {
        path,
        etag,
        size: body.length,
        contentType: options.contentType,
        metadata: { ...options.metadata },
        lastModified: new Date(),
        tier: 'hot',
      },
    });
    this.puts.push(path);
    return { etag };
  }

  async get(path: string) {
    const blob = this.blobs.get(path);
    return blob ? { body: Buffer.from(blob.body), properties: { ...blob.properties } } : null;
  }

  async head(path: string) {
    const blob = this.blobs.get(path);
    return blob ? { ...blob.properties } : null;
  }

  async delete(path: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    const current = this.blobs.get(path);
    if (!current) return false;
    if (options.ifMatch !== undefined && current.properties.etag !== options.ifMatch) {
      throw new PreconditionFailedError(path);
    }
    this.blobs.delete(path);
    return true;
  }

  async *list(prefix: string): AsyncIterable<BlobProperties> {
    for (const path of [...this.blobs.keys()].filter((p) => p.startsWith(prefix)).sort()) {
      yield { ...this.blobs.get(path)!.properties };
    }
  }

  async close(): Promise<void> {}
}

export class InMemoryCatalog implements TwinCatalog {
  readonly records = new Map<string, TwinRecord>();
  readonly deletions = new Map<string, Version>();

  async upsert(record: TwinRecord): Promise<ApplyResult> {
    const current = this.records.get(record.leadId);
    const tomb = this.deletions.get(record.leadId);
    if ((current && current.version >= record.version) || (tomb && tomb >= record.version)) return 'stale';
    this.records.set(record.leadId, record);
    return 'applied';
  }
  async upsertMany(records: readonly TwinRecord[]): Promise<UpsertOutcome[]> {
    const hadRecord = new Map(records.map((r) => [r.leadId, this.records.has(r.leadId)]));
    const outcomes: UpsertOutcome[] = [];
    for (const record of records) {
      const result = await this.upsert(record);
      const tombstone = this.deletions.get(record.leadId) ?? null;
      outcomes.push({ result, hadRecord: hadRecord.get(record.leadId)!, tombstone });
    }
    return outcomes;
  }
  async get(leadId: string) {
    return this.records.get(leadId) ?? null;
  }
  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    const tomb = this.deletions.get(leadId);
    if (tomb && tomb >= version) return 'stale';
    this.deletions.set(leadId, version);
    const current = this.records.get(leadId);
    if (current && current.version < version) this.records.delete(leadId);
    return 'applied';
  }
  async tombstone(leadId: string) {
    return this.deletions.get(leadId) ?? null;
  }
  async tombstones(leadIds: readonly string[]) {
    const found = new Map<string, Version>();
    for (const leadId of leadIds) {
      const tomb = this.deletions.get(leadId);
      if (tomb) found.set(leadId, tomb);
    }
    return found;
  }
  async count() {
    return this.records.size;
  }
  async list(options: { after?: string; limit: number }) {
    return [...this.records.values()]
      .filter((r) => options.after === undefined || r.leadId > options.after)
      .sort((a, b) => (a.leadId < b.leadId ? -1 : 1))
      .slice(0, options.limit);
  }
  async close(): Promise<void> {}
}

export class InMemoryCache implements TwinCache {
  readonly entries = new Map<string, CachedTwin>();
  private readonly tombstones = new Map<string, Version>();

  async get(leadId: string) {
    const entry = this.entries.get(leadId);
    return entry ? { ...entry, markdown: Buffer.from(entry.markdown) } : null;
  }
  async set(entry: CachedTwin, ttlSeconds: number): Promise<'applied' | 'stale'> {
    const current = this.entries.get(entry.leadId);
    const tomb = this.tombstones.get(entry.leadId);
    if (ttlSeconds <= 0 || (current && current.version >= entry.version) || (tomb && tomb >= entry.version)) {
      return 'stale';
    }
    this.entries.set(entry.leadId, { ...entry, markdown: Buffer.from(entry.markdown) });
    return 'applied';
  }
  async setMany(entries: readonly { entry: CachedTwin; ttlSeconds: number }[]) {
    const results: ('applied' | 'stale')[] = [];
    for (const { entry, ttlSeconds } of entries) results.push(await this.set(entry, ttlSeconds));
    return results;
  }
  async invalidate(leadId: string, version: Version): Promise<void> {
    this.entries.delete(leadId);
    this.tombstones.set(leadId, version);
  }
  async close(): Promise<void> {}
}

export class RecordingPublisher implements EventPublisher {
  readonly events: TwinEvent[] = [];
  async publish(events: TwinEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async close(): Promise<void> {}
}

/** Records each query it receives; answers with `result`. */
export class RecordingSearchIndex implements SearchIndex {
  readonly queries: SearchQuery[] = [];
  result: SearchResult = { total: 0, hits: [], facets: {} };

  async upsert() {
    return { applied: 0, stale: 0 };
  }
  async remove(): Promise<ApplyResult> {
    return 'applied';
  }
  async search(query: SearchQuery) {
    this.queries.push(query);
    return this.result;
  }
  async version() {
    return null;
  }
  async count() {
    return 0;
  }
  async close(): Promise<void> {}
}

/** Idempotency records in a Map, with the same semantics as the SQLite and Table stores (one contract). */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  readonly records = new Map<
    string,
    { hash: string; claim: string | null; response?: StoredResponse; lockedUntil: number; expiresAt: number }
  >();
  private readonly ttlMs: number;
  readonly leaseMs: number;
  private readonly now: () => number;
  private claims = 0;

  constructor(options: IdempotencyStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
    this.leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
    this.now = options.now ?? Date.now;
  }

  async begin(key: string, scope: string, requestHash: string): Promise<IdempotencyBegin> {
    const id = JSON.stringify([scope, key]);
    const now = this.now();
    const row = this.records.get(id);
    const claim = `claim-${++this.claims}`;
    if (!row || row.expiresAt <= now) {
      this.records.set(id, {
        hash: requestHash,
        claim,
        lockedUntil: now + this.leaseMs,
        expiresAt: now + this.ttlMs,
      });
      return { state: 'new', claim };
    }
    if (row.hash !== requestHash) return { state: 'mismatch' };
    if (row.response) return { state: 'done', response: structuredClone(row.response) };
    if (row.lockedUntil > now) return { state: 'in-flight' };
    Object.assign(row, { claim, lockedUntil: now + this.leaseMs });
    return { state: 'new', claim };
  }

  async complete(key: string, scope: string, claim: string, response: StoredResponse): Promise<boolean> {
    const row = this.records.get(JSON.stringify([scope, key]));
    if (!row || row.response || row.claim !== claim) return false;
    Object.assign(row, { claim: null, response: structuredClone(response) });
    return true;
  }

  async renew(key: string, scope: string, claim: string): Promise<boolean> {
    const now = this.now();
    const row = this.records.get(JSON.stringify([scope, key]));
    if (!row || row.response || row.claim !== claim || row.expiresAt <= now) return false;
    row.lockedUntil = now + this.leaseMs;
    return true;
  }

  async release(key: string, scope: string, claim: string): Promise<void> {
    const id = JSON.stringify([scope, key]);
    const row = this.records.get(id);
    if (row && !row.response && row.claim === claim) this.records.delete(id);
  }

  async purgeExpired(): Promise<number> {
    const now = this.now();
    let purged = 0;
    for (const [id, row] of this.records) {
      if (row.expiresAt <= now && this.records.delete(id)) purged++;
    }
    return purged;
  }

  async close(): Promise<void> {}
}

const unused = (what: string) => () => {
  throw new Error(`${what} is not used by the ingest API`);
};

export const unusedActivityStore: ActivityStore = {
  recordWrite: unused('activity'),
  recordWrites: unused('activity'),
  recordAccess: unused('activity'),
  remove: unused('activity'),
  get: unused('activity'),
  sweep: unused('activity'),
  countByTier: unused('activity'),
  close: async () => undefined,
};

export const unusedSubscriber: EventSubscriber = {
  subscribe: unused('subscriber'),
  subscribeBatch: unused('subscriber'),
  close: async () => undefined,
};

export const unusedBusAdmin: EventBusAdmin = {
  stats: unused('bus admin'),
  // the API samples the backlog for back-pressure; these doubles keep none
  backlog: async () => 0,
  listDeadLetters: unused('bus admin'),
  redrive: unused('bus admin'),
  purgeDeadLetters: unused('bus admin'),
  close: async () => undefined,
};
