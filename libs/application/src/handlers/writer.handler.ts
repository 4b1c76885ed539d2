import { TwinDeletedV1, TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { metadataPath, TwinPointer, TwinRecord, Version } from '@twinstore/domain';
import { mapBounded } from '../rebuild/day-blob';
import { eraseContent } from '../use-cases/erase-content';
import { readPointer } from '../use-cases/get-twin-metadata.use-case';
import {
  BatchEventHandler,
  ContentStore,
  done,
  HandlerOutcome,
  PreconditionFailedError,
  PutBlobItem,
  skip,
  TwinCatalog,
} from '../ports';
import { BATCH_IO_CONCURRENCY, projectInOrder } from './batch-runs';

const POINTER_CONTENT_TYPE = 'application/json';

/** The saves of one lead within a run, and whether the catalog knew the lead before them. */
interface LeadSaves {
  records: TwinRecord[];
  hadRecord: boolean;
}

/**
 * Subscription `writer`: the catalog record and the pointer blob (`digital-twins/metadata/{leadId}.json`)
 * with the day-blob history. Idempotency key: (leadId, version); older or duplicate events change nothing.
 *
 * A run of saves costs one catalog upsert call, one pointer write per lead (created without a read when the
 * catalog did not know the lead) and one tombstone read for all its leads.
 */
export class WriterHandler {
  constructor(
    private readonly catalog: TwinCatalog,
    private readonly content: ContentStore,
  ) {}

  readonly handleBatch: BatchEventHandler = (deliveries) => this.project(deliveries.map((d) => d.event));

  /** One event alone (the projection rebuild delivers this way). */
  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => (await this.project([event]))[0];

  private project(events: readonly TwinEvent[]): Promise<HandlerOutcome[]> {
    return projectInOrder(
      events,
      (run) => this.saved(run),
      (event) => this.other(event),
    );
  }

  private other(event: TwinEvent): Promise<HandlerOutcome> {
    if (event.type === 'twin.deleted.v1') return this.deleted(event.data);
    return Promise.resolve(skip(`writer does not handle ${event.type}`));
  }

  private async saved(run: TwinSavedV1[]): Promise<HandlerOutcome[]> {
    const records = run.map(toRecord);
    const upserted = await this.catalog.upsertMany(records);
    const outcomes: HandlerOutcome[] = [];
    const erasures = new Map<string, { tombstone: Version; paths: string[] }>();
    const leads = new Map<string, LeadSaves>();
    records.forEach((record, i) => {
      const { result, hadRecord, tombstone } = upserted[i];
      if (tombstone && tombstone >= record.version) {
        // Deleted after this version was accepted: make sure nothing of it survives.
        const erasure = erasures.get(record.leadId) ?? { tombstone, paths: [] };
        erasure.paths.push(record.blobPath);
        erasures.set(record.leadId, erasure);
        outcomes.push(skip('lead was deleted after this version'));
        return;
      }
      const lead = leads.get(record.leadId) ?? { records: [], hadRecord };
      lead.records.push(record);
      leads.set(record.leadId, lead);
      outcomes.push(result === 'applied' ? done() : skip('catalog already has this or a newer version'));
    });
    await mapBounded([...erasures], BATCH_IO_CONCURRENCY, ([leadId, e]) =>
      this.erase(leadId, e.tombstone, e.paths),
    );
    if (leads.size === 0) return outcomes;
    await this.writePointers(leads);
    // A deletion handled elsewhere between our upsert and our pointer write found no pointer to erase yet.
    const tombstones = await this.catalog.tombstones([...leads.keys()]);
    await mapBounded([...tombstones], BATCH_IO_CONCURRENCY, async ([leadId, tombstone]) => {
      const paths = leads
        .get(leadId)!
        .records.filter((r) => r.version <= tombstone)
        .map((r) => r.blobPath);
      if (paths.length > 0) await this.erase(leadId, tombstone, paths);
    });
    return outcomes;
  }

  private async deleted(data: TwinDeletedV1): Promise<HandlerOutcome> {
    const version = data.version as Version;
    const pointer = await readPointer(this.content, data.leadId);
    const record = await this.catalog.get(data.leadId);
    const result = await this.catalog.remove(data.leadId, version);
    const paths = [...(pointer?.pointer.history.map((h) => h.blobPath) ?? [])];
    if (record) paths.push(record.blobPath);
    await this.erase(data.leadId, version, paths);
    return result === 'applied' ? done() : skip('already deleted at this or a newer version');
  }

  private async erase(leadId: string, before: string, paths: string[]): Promise<void> {
    await eraseContent(this.content, [...new Set(paths)], before);
    const pointer = await readPointer(this.content, leadId);
    if (pointer && pointer.pointer.version < before) {
      try {
        await this.content.delete(metadataPath(leadId), { ifMatch: pointer.etag });
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
      }
    }
  }

  /**
   * One conditional write per lead: created outright (`If-None-Match: *`) when the catalog did not know the
   * lead, else read and replaced on its etag. A lead whose write meets a concurrent one (412) falls back to
   * the read-modify-write loop.
   */
  private async writePointers(leads: Map<string, LeadSaves>): Promise<void> {
    const items: PutBlobItem[] = [];
    const leadOf = new Map<string, string>();
    await mapBounded([...leads], BATCH_IO_CONCURRENCY, async ([leadId, lead]) => {
      const current = lead.hadRecord ? await readPointer(this.content, leadId) : null;
      const pointer = mergePointer(current?.pointer ?? null, lead.records);
      if (!pointer) return;
      const path = metadataPath(leadId);
      leadOf.set(path, leadId);
      items.push({
        path,
        body: Buffer.from(JSON.stringify(pointer)),
        options: {
          contentType: POINTER_CONTENT_TYPE,
          metadata: { version: pointer.version },
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' }),
        },
      });
    });
    const outcomes = await this.putAll(items);
    const conflicted: string[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome instanceof PreconditionFailedError) conflicted.push(leadOf.get(items[i].path)!);
      else if (outcome instanceof Error) throw outcome;
    });
    await mapBounded(conflicted, BATCH_IO_CONCURRENCY, (leadId) =>
      this.updatePointer(leadId, leads.get(leadId)!.records),
    );
  }

  /** Every item settled, each with its own outcome: the store's group write when it has one. */
  private async putAll(items: PutBlobItem[]): Promise<({ etag: string } | Error)[]> {
    if (items.length === 0) return [];
    if (this.content.putMany) return this.content.putMany(items);
    return mapBounded(items, BATCH_IO_CONCURRENCY, (item) =>
      this.content.put(item.path, item.body, item.options).catch((e: unknown) => {
        if (e instanceof Error) return e;
        throw e;
      }),
    );
  }

  /** Read-modify-write of the pointer, conditional on its etag; newer pointer versions are kept. */
  private async updatePointer(leadId: string, records: TwinRecord[]): Promise<void> {
    const path = metadataPath(leadId);
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await readPointer(this.content, leadId);
      const pointer = mergePointer(current?.pointer ?? null, records);
      if (!pointer) return;
      try {
        await this.content.put(path, Buffer.from(JSON.stringify(pointer)), {
          contentType: POINTER_CONTENT_TYPE,
          metadata: { version: pointer.version },
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' }),
        });
        return;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
      }
    }
    throw new Error('pointer update kept conflicting');
  }
}

function toRecord(data: TwinSavedV1): TwinRecord {
  return {
    leadId: data.leadId,
    version: data.version as Version,
    blobPath: data.blobPath,
    contentHash: data.contentHash,
    size: data.size,
    savedAt: data.savedAt,
    metadata: data.metadata,
  };
}

/**
 * The pointer with the records merged in: the head is the newest version, the history holds one entry per
 * day-blob at its newest version. Null when the records change nothing.
 */
function mergePointer(current: TwinPointer | null, records: readonly TwinRecord[]): TwinPointer | null {
  let pointer = current;
  let changed = false;
  for (const record of records) {
    const history = pointer?.history ?? [];
    const sameDay = history.find((h) => h.blobPath === record.blobPath);
    if (sameDay && sameDay.version >= record.version && pointer && pointer.version >= record.version)
      continue;
    const entry = {
      version: record.version,
      blobPath: record.blobPath,
      savedAt: record.savedAt,
      size: record.size,
    };
    const merged = sameDay
      ? history.map((h) => (h.blobPath === record.blobPath && h.version < record.version ? entry : h))
      : [...history, entry];
    const head: TwinRecord = pointer && pointer.version > record.version ? withoutHistory(pointer) : record;
    pointer = { ...head, history: merged.sort((a, b) => (a.version < b.version ? -1 : 1)) };
    changed = true;
  }
  return changed ? pointer : null;
}

function withoutHistory(pointer: TwinPointer): TwinRecord {
  const { history: _history, ...record } = pointer;
  return record;
}
