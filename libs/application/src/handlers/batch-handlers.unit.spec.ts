import { describe, expect, it } from 'vitest';
import { createEvent, TwinEvent } from '@twinstore/contracts';
import {
  contentPath,
  metadataPath,
  parseMetadata,
  Tier,
  TwinPointer,
  TwinRecord,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import {
  ActivityStore,
  ActivityWrite,
  ApplyResult,
  BatchEventHandler,
  BlobProperties,
  CachedTwin,
  ContentStore,
  Delivery,
  HandlerOutcome,
  PreconditionFailedError,
  PutBlobOptions,
  SearchDocument,
  SearchIndex,
  TwinActivity,
  TwinCache,
  TwinCatalog,
  UpsertOutcome,
} from '../ports';
import { CacheWarmerHandler } from './cache-warmer.handler';
import { IndexerHandler } from './indexer.handler';
import { isolatingBatchHandler } from './isolating-batch-handler';
import { TieringHandler } from './tiering.handler';
import { WriterHandler } from './writer.handler';

// ---- doubles: the ports' semantics, kept in memory, with call counts -------------------------------------

class MemoryContent implements ContentStore {
  readonly blobs = new Map<string, { body: Buffer; properties: BlobProperties }>();
  readonly calls = { get: 0, put: 0 };
  /** Paths whose put throws a non-precondition error (a poison message's side effect). */
  readonly failing = new Set<string>();
  private etags = 0;

  async put(path: string, body: Buffer, options: PutBlobOptions) {
    this.calls.put++;
    if (this.failing.has(path)) throw new Error('storage refused');
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
        metadata: options.metadata ?? {},
        lastModified: new Date(0),
        tier: 'hot',
      },
    });
    return { etag };
  }
  async get(path: string) {
    this.calls.get++;
    return this.blobs.get(path) ?? null;
  }
  async head(path: string) {
    return this.blobs.get(path)?.properties ?? null;
  }
  async delete(path: string, options: { ifMatch?: string } = {}) {
    const current = this.blobs.get(path);
    if (!current) return false;
    if (options.ifMatch !== undefined && current.properties.etag !== options.ifMatch) {
      throw new PreconditionFailedError(path);
    }
    return this.blobs.delete(path);
  }
  async *list(prefix: string) {
    for (const [path, blob] of this.blobs) if (path.startsWith(prefix)) yield blob.properties;
  }
  async close() {}

  pointer(leadId: string): TwinPointer | null {
    const blob = this.blobs.get(metadataPath(leadId));
    return blob ? (JSON.parse(blob.body.toString('utf8')) as TwinPointer) : null;
  }
}

class MemoryCatalog implements TwinCatalog {
  readonly records = new Map<string, TwinRecord>();
  readonly deletions = new Map<string, Version>();
  readonly calls = { upsertMany: 0, tombstones: 0 };

  async upsert(record: TwinRecord): Promise<ApplyResult> {
    const current = this.records.get(record.leadId);
    const tomb = this.deletions.get(record.leadId);
    if ((current && current.version >= record.version) || (tomb && tomb >= record.version)) return 'stale';
    this.records.set(record.leadId, record);
    return 'applied';
  }
  async upsertMany(records: readonly TwinRecord[]): Promise<UpsertOutcome[]> {
    this.calls.upsertMany++;
    const had = new Map(records.map((r) => [r.leadId, this.records.has(r.leadId)]));
    const out: UpsertOutcome[] = [];
    for (const r of records) {
      const result = await this.upsert(r);
      out.push({ result, hadRecord: had.get(r.leadId)!, tombstone: this.deletions.get(r.leadId) ?? null });
    }
    return out;
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
    this.calls.tombstones++;
    return new Map(leadIds.filter((l) => this.deletions.has(l)).map((l) => [l, this.deletions.get(l)!]));
  }
  async count() {
    return this.records.size;
  }
  async list() {
    return [...this.records.values()];
  }
  async close() {}
}

class MemoryCache implements TwinCache {
  readonly entries = new Map<string, CachedTwin>();
  readonly floors = new Map<string, { version: Version; deleted: boolean }>();
  readonly calls = { setMany: 0 };

  async get(leadId: string) {
    return this.entries.get(leadId) ?? null;
  }
  async set(entry: CachedTwin, ttlSeconds: number): Promise<'applied' | 'stale'> {
    const floor = this.floors.get(entry.leadId);
    if (floor && (entry.version < floor.version || (entry.version === floor.version && floor.deleted))) {
      return 'stale';
    }
    const current = this.entries.get(entry.leadId);
    if (current && current.version >= entry.version) return 'stale';
    if (ttlSeconds > 0) this.entries.set(entry.leadId, entry);
    else this.entries.delete(entry.leadId);
    this.floors.set(entry.leadId, { version: entry.version, deleted: false });
    return 'applied';
  }
  async setMany(entries: readonly { entry: CachedTwin; ttlSeconds: number }[]) {
    this.calls.setMany++;
    const out: ('applied' | 'stale')[] = [];
    for (const { entry, ttlSeconds } of entries) out.push(await this.set(entry, ttlSeconds));
    return out;
  }
  async invalidate(leadId: string, version: Version) {
    this.entries.delete(leadId);
    const floor = this.floors.get(leadId);
    if (!floor || version > floor.version || (version === floor.version && !floor.deleted)) {
      this.floors.set(leadId, { version, deleted: true });
    }
  }
  async close() {}
}

class MemoryIndex implements SearchIndex {
  readonly docs = new Map<string, SearchDocument>();
  readonly removed = new Map<string, Version>();
  readonly calls = { upsert: 0, version: 0, documents: 0 };

  async upsert(documents: SearchDocument[]) {
    this.calls.upsert++;
    this.calls.documents += documents.length;
    let applied = 0;
    for (const d of documents) {
      const current = this.docs.get(d.leadId);
      const removed = this.removed.get(d.leadId);
      if ((current && current.version >= d.version) || (removed && removed >= d.version)) continue;
      this.docs.set(d.leadId, d);
      applied++;
    }
    return { applied, stale: documents.length - applied };
  }
  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    const removed = this.removed.get(leadId);
    if (removed && removed >= version) return 'stale';
    this.removed.set(leadId, version);
    const current = this.docs.get(leadId);
    if (current && current.version < version) this.docs.delete(leadId);
    return 'applied';
  }
  async search(): Promise<never> {
    throw new Error('not used');
  }
  async version(leadId: string) {
    this.calls.version++;
    return this.docs.get(leadId)?.version ?? null;
  }
  async count() {
    return this.docs.size;
  }
  async close() {}
}

class MemoryActivity implements ActivityStore {
  readonly rows = new Map<string, { version: Version; at: Date; tier: Tier }>();
  readonly deletions = new Map<string, Version>();
  readonly calls = { recordWrites: 0 };

  async recordWrite(leadId: string, version: Version, at: Date): Promise<ApplyResult> {
    const current = this.rows.get(leadId);
    const tomb = this.deletions.get(leadId);
    if ((current && current.version >= version) || (tomb && tomb >= version)) return 'stale';
    this.rows.set(leadId, { version, at, tier: 'hot' });
    return 'applied';
  }
  async recordWrites(writes: readonly ActivityWrite[]) {
    this.calls.recordWrites++;
    const out: ApplyResult[] = [];
    for (const w of writes) out.push(await this.recordWrite(w.leadId, w.version, w.at));
    return out;
  }
  async recordAccess() {}
  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    const tomb = this.deletions.get(leadId);
    if (tomb && tomb >= version) return 'stale';
    this.deletions.set(leadId, version);
    const current = this.rows.get(leadId);
    if (current && current.version < version) this.rows.delete(leadId);
    return 'applied';
  }
  async get(leadId: string): Promise<TwinActivity | null> {
    const row = this.rows.get(leadId);
    return row
      ? {
          leadId,
          version: row.version,
          lastWriteAt: row.at.toISOString(),
          lastAccessAt: null,
          tier: row.tier,
        }
      : null;
  }
  async sweep() {
    return 0;
  }
  async countByTier() {
    return { hot: this.rows.size, warm: 0, cold: 0 };
  }
  async close() {}
}

// ---- events ---------------------------------------------------------------------------------------------

/** Versions a day apart (so each lives in its own day-blob), in minting order. */
function mint(count: number): Version[] {
  let ms = Date.UTC(2026, 0, 1, 9);
  const generator = new VersionGenerator(() => new Date((ms += 86_400_000)));
  return Array.from({ length: count }, () => generator.next());
}
const [v1, v2, v3] = mint(3);

const markdownOf = (leadId: string, version: Version) => `# ${leadId} at ${version}`;

function saved(leadId: string, version: Version, options: { inline?: boolean } = {}): TwinEvent {
  const markdown = markdownOf(leadId, version);
  return createEvent('twin.saved.v1', {
    leadId,
    version,
    blobPath: contentPath(leadId, version),
    contentHash: 'ab'.repeat(32),
    size: Buffer.byteLength(markdown),
    contentType: 'text/markdown',
    savedAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    metadata: parseMetadata({ classification: 'hot' }),
    ...(options.inline ? { markdown } : {}),
  });
}

function deleted(leadId: string, version: Version): TwinEvent {
  return createEvent('twin.deleted.v1', { leadId, version, deletedAt: new Date(0).toISOString() });
}

function deliveries(events: TwinEvent[]): Delivery[] {
  return events.map((event, i) => ({
    event,
    context: { subscription: 'test', messageId: `m${i}`, deliveryCount: 1 },
  }));
}

/** Writes the day-blob of every save, as the ingest API does before it publishes. */
async function storeContent(content: MemoryContent, events: TwinEvent[]): Promise<void> {
  for (const e of events) {
    if (e.type !== 'twin.saved.v1') continue;
    await content.put(e.data.blobPath, Buffer.from(markdownOf(e.data.leadId, e.data.version as Version)), {
      contentType: 'text/markdown',
      metadata: { version: e.data.version },
    });
  }
}

const kinds = (outcomes: HandlerOutcome[]) => outcomes.map((o) => o.kind);

// ---- writer ---------------------------------------------------------------------------------------------

describe('WriterHandler.handleBatch', () => {
  async function setup(events: TwinEvent[]) {
    const content = new MemoryContent();
    const catalog = new MemoryCatalog();
    await storeContent(content, events);
    const writer = new WriterHandler(catalog, content);
    return { content, catalog, writer };
  }

  it('projects a mixed batch with one catalog call, and creates new pointers without reading them', async () => {
    const events = [saved('lead-a', v1), saved('lead-b', v1), saved('lead-c', v2)];
    const { content, catalog, writer } = await setup(events);
    const gets = content.calls.get;
    const outcomes = await writer.handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'done', 'done']);
    expect(catalog.calls).toEqual({ upsertMany: 1, tombstones: 1 });
    expect(content.calls.get - gets).toBe(0);
    expect(content.pointer('lead-c')).toMatchObject({ version: v2, history: [{ version: v2 }] });
    expect(catalog.records.get('lead-a')?.version).toBe(v1);
  });

  it('converges on the newest with duplicates and an older version after a newer one', async () => {
    const events = [saved('lead-a', v2), saved('lead-a', v1), saved('lead-a', v2), saved('lead-a', v3)];
    const { content, catalog, writer } = await setup(events);
    const outcomes = await writer.handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'skip', 'skip', 'done']);
    expect(catalog.records.get('lead-a')?.version).toBe(v3);
    const pointer = content.pointer('lead-a')!;
    expect(pointer.version).toBe(v3);
    expect(pointer.history.map((h) => h.version)).toEqual([v1, v2, v3]);
  });

  it('adds to an existing pointer and keeps its newer head', async () => {
    const { content, catalog, writer } = await setup([saved('lead-a', v3), saved('lead-a', v1)]);
    await writer.handleBatch(deliveries([saved('lead-a', v3)]));
    const outcomes = await writer.handleBatch(deliveries([saved('lead-a', v1)]));
    expect(kinds(outcomes)).toEqual(['skip']);
    expect(catalog.records.get('lead-a')?.version).toBe(v3);
    expect(content.pointer('lead-a')).toMatchObject({ version: v3 });
    expect(content.pointer('lead-a')!.history.map((h) => h.version)).toEqual([v1, v3]);
  });

  it('honours a delete between saves of one lead: the save before it is erased, the one after it stays', async () => {
    const events = [saved('lead-a', v1), deleted('lead-a', v2), saved('lead-a', v3), saved('lead-b', v1)];
    const { content, catalog, writer } = await setup(events);
    const outcomes = await writer.handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'done', 'done', 'done']);
    expect(content.blobs.has(contentPath('lead-a', v1))).toBe(false);
    expect(content.blobs.has(contentPath('lead-a', v3))).toBe(true);
    expect(catalog.records.get('lead-a')?.version).toBe(v3);
    expect(content.pointer('lead-a')).toMatchObject({ version: v3, history: [{ version: v3 }] });
    expect(content.pointer('lead-b')).toMatchObject({ version: v1 });
  });

  it('erases a save that arrives after the deletion of a newer version', async () => {
    const events = [deleted('lead-a', v2), saved('lead-a', v1)];
    const { content, catalog, writer } = await setup(events);
    const outcomes = await writer.handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'skip']);
    expect(catalog.records.has('lead-a')).toBe(false);
    expect(content.blobs.has(contentPath('lead-a', v1))).toBe(false);
    expect(content.pointer('lead-a')).toBeNull();
  });

  it('isolates a poison message: it is retried alone, the others of its batch complete', async () => {
    const events = [saved('lead-a', v1), saved('lead-b', v1), saved('lead-c', v1)];
    const { content, catalog, writer } = await setup(events);
    content.failing.add(metadataPath('lead-b'));
    const outcomes = await isolatingBatchHandler(writer.handleBatch)(deliveries(events));
    // The failed batch call had already put the records in the catalog; handled alone, they find them there.
    expect(kinds(outcomes)).toEqual(['skip', 'retry', 'skip']);
    expect(content.pointer('lead-a')).toMatchObject({ version: v1 });
    expect(content.pointer('lead-c')).toMatchObject({ version: v1 });
    expect(content.pointer('lead-b')).toBeNull();
    content.failing.clear();
    expect(kinds(await writer.handleBatch(deliveries([events[1]])))).toEqual(['skip']);
    expect(content.pointer('lead-b')).toMatchObject({ version: v1 });
    expect(catalog.records.size).toBe(3);
  });
});

// ---- cache-warmer ---------------------------------------------------------------------------------------

describe('CacheWarmerHandler.handleBatch', () => {
  it('sets a run of inline saves in one call without reading a blob; duplicates and older versions are stale', async () => {
    const content = new MemoryContent();
    const cache = new MemoryCache();
    const warmer = new CacheWarmerHandler(cache, content);
    const events = [
      saved('lead-a', v2, { inline: true }),
      saved('lead-a', v1, { inline: true }),
      saved('lead-a', v2, { inline: true }),
      saved('lead-b', v1, { inline: true }),
    ];
    const outcomes = await warmer.handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'skip', 'skip', 'done']);
    expect(cache.calls.setMany).toBe(1);
    expect(content.calls.get).toBe(0);
    expect((await cache.get('lead-a'))?.version).toBe(v2);
  });

  it('honours a delete between saves and a save older than the deletion', async () => {
    const content = new MemoryContent();
    const cache = new MemoryCache();
    const events = [saved('lead-a', v1), deleted('lead-a', v2), saved('lead-a', v3), deleted('lead-b', v2)];
    events.push(saved('lead-b', v1));
    await storeContent(content, events);
    const outcomes = await new CacheWarmerHandler(cache, content).handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'done', 'done', 'done', 'skip']);
    expect((await cache.get('lead-a'))?.version).toBe(v3);
    expect(await cache.get('lead-b')).toBeNull();
  });
});

// ---- indexer --------------------------------------------------------------------------------------------

describe('IndexerHandler.handleBatch', () => {
  it('indexes the newest document of each lead in one call, without a version lookup', async () => {
    const content = new MemoryContent();
    const index = new MemoryIndex();
    const events = [
      saved('lead-a', v2, { inline: true }),
      saved('lead-a', v1, { inline: true }),
      saved('lead-b', v1),
      saved('lead-a', v2, { inline: true }),
    ];
    await storeContent(content, [events[2]]);
    const gets = content.calls.get;
    const outcomes = await new IndexerHandler(index, content).handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'skip', 'done', 'skip']);
    expect(index.calls).toEqual({ upsert: 1, version: 0, documents: 2 });
    expect(content.calls.get - gets).toBe(1);
    expect(index.docs.get('lead-a')?.version).toBe(v2);
    expect(index.docs.get('lead-a')?.markdown).toBe(markdownOf('lead-a', v2));
  });

  it('honours a delete between saves; a save whose content is not readable yet is retried alone', async () => {
    const content = new MemoryContent();
    const index = new MemoryIndex();
    const events = [saved('lead-a', v1), deleted('lead-a', v2), saved('lead-a', v3), saved('lead-c', v1)];
    await storeContent(content, events.slice(0, 3));
    const outcomes = await new IndexerHandler(index, content).handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'done', 'done', 'retry']);
    expect(index.docs.get('lead-a')?.version).toBe(v3);
    expect(index.docs.has('lead-c')).toBe(false);
  });
});

// ---- tiering --------------------------------------------------------------------------------------------

describe('TieringHandler.handleBatch', () => {
  it('records a run of writes in one call and honours deletes between them', async () => {
    const activity = new MemoryActivity();
    const events = [
      saved('lead-a', v2),
      saved('lead-a', v1),
      saved('lead-b', v1),
      deleted('lead-b', v2),
      saved('lead-b', v1),
      saved('lead-b', v3),
    ];
    const outcomes = await new TieringHandler(activity).handleBatch(deliveries(events));
    expect(kinds(outcomes)).toEqual(['done', 'skip', 'done', 'done', 'skip', 'done']);
    expect(activity.calls.recordWrites).toBe(2);
    expect(activity.rows.get('lead-a')?.version).toBe(v2);
    expect(activity.rows.get('lead-b')?.version).toBe(v3);
  });
});

// ---- isolation ------------------------------------------------------------------------------------------

describe('isolatingBatchHandler', () => {
  const poisoned: BatchEventHandler = async (batch) => {
    if (batch.some((d) => d.event.subject === 'poison')) throw new TypeError('cannot handle');
    return batch.map(() => ({ kind: 'done' }));
  };

  it('hands the batch over whole while it succeeds', async () => {
    let calls = 0;
    const handler = isolatingBatchHandler(async (batch) => {
      calls++;
      return poisoned(batch);
    });
    const outcomes = await handler(deliveries([saved('lead-a', v1), saved('lead-b', v1)]));
    expect(kinds(outcomes)).toEqual(['done', 'done']);
    expect(calls).toBe(1);
  });

  it('falls back to one delivery at a time, in order, and fails only the poison message', async () => {
    const seen: string[] = [];
    const handler = isolatingBatchHandler(async (batch) => {
      if (batch.length === 1) seen.push(batch[0].event.subject);
      return poisoned(batch);
    });
    const outcomes = await handler(
      deliveries([saved('lead-a', v1), saved('poison', v1), saved('lead-b', v1)]),
    );
    expect(outcomes).toEqual([
      { kind: 'done' },
      { kind: 'retry', reason: 'handler failed (TypeError)' },
      { kind: 'done' },
    ]);
    expect(seen).toEqual(['lead-a', 'poison', 'lead-b']);
  });

  it('lets the caller decide the outcome of a failed delivery', async () => {
    const failed: string[] = [];
    const handler = isolatingBatchHandler(poisoned, (d) => {
      failed.push(d.context.messageId);
      return { kind: 'dead-letter', reason: 'poison' };
    });
    const outcomes = await handler(deliveries([saved('poison', v1)]));
    expect(kinds(outcomes)).toEqual(['dead-letter']);
    expect(failed).toEqual(['m0']);
  });
});
