import { TwinDeletedV1, TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { metadataPath, TwinPointer, TwinRecord, Version } from '@twinstore/domain';
import { eraseContent } from '../use-cases/erase-content';
import { readPointer } from '../use-cases/get-twin-metadata.use-case';
import { ContentStore, done, HandlerOutcome, PreconditionFailedError, skip, TwinCatalog } from '../ports';

const POINTER_CONTENT_TYPE = 'application/json';

/**
 * Subscription `writer`: the catalog record and the pointer blob (`digital-twins/metadata/{leadId}.json`)
 * with the day-blob history. Idempotency key: (leadId, version); older or duplicate events change nothing.
 */
export class WriterHandler {
  constructor(
    private readonly catalog: TwinCatalog,
    private readonly content: ContentStore,
  ) {}

  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => {
    switch (event.type) {
      case 'twin.saved.v1':
        return this.saved(event.data);
      case 'twin.deleted.v1':
        return this.deleted(event.data);
      default:
        return skip(`writer does not handle ${event.type}`);
    }
  };

  private async saved(data: TwinSavedV1): Promise<HandlerOutcome> {
    const record: TwinRecord = {
      leadId: data.leadId,
      version: data.version as Version,
      blobPath: data.blobPath,
      contentHash: data.contentHash,
      size: data.size,
      savedAt: data.savedAt,
      metadata: data.metadata,
    };
    const applied = await this.catalog.upsert(record);
    const tomb = await this.catalog.tombstone(data.leadId);
    if (tomb && tomb >= data.version) {
      // Deleted after this version was accepted: make sure nothing of it survives.
      await this.erase(data.leadId, tomb, [data.blobPath]);
      return skip('lead was deleted after this version');
    }
    await this.updatePointer(record);
    const tombAfter = await this.catalog.tombstone(data.leadId);
    if (tombAfter && tombAfter >= data.version) await this.erase(data.leadId, tombAfter, [data.blobPath]);
    return applied === 'applied' ? done() : skip('catalog already has this or a newer version');
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

  /** Read-modify-write of the pointer, conditional on its etag; newer pointer versions are kept. */
  private async updatePointer(record: TwinRecord): Promise<void> {
    const path = metadataPath(record.leadId);
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await readPointer(this.content, record.leadId);
      const history = current?.pointer.history ?? [];
      const entry = {
        version: record.version,
        blobPath: record.blobPath,
        savedAt: record.savedAt,
        size: record.size,
      };
      const sameDay = history.find((h) => h.blobPath === record.blobPath);
      if (
        sameDay &&
        sameDay.version >= record.version &&
        current &&
        current.pointer.version >= record.version
      )
        return;
      const merged = sameDay
        ? history.map((h) => (h.blobPath === record.blobPath && h.version < record.version ? entry : h))
        : [...history, entry];
      const head: TwinRecord =
        current && current.pointer.version > record.version ? withoutHistory(current.pointer) : record;
      const pointer: TwinPointer = {
        ...head,
        history: merged.sort((a, b) => (a.version < b.version ? -1 : 1)),
      };
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

function withoutHistory(pointer: TwinPointer): TwinRecord {
  const { history: _history, ...record } = pointer;
  return record;
}
