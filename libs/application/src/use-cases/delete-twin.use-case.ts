import { createEvent } from '@twinstore/contracts';
import { DomainError, metadataPath, parseLeadId, Version, VersionGenerator } from '@twinstore/domain';
import { Clock, ContentStore, EventPublisher, TwinCache, TwinCatalog } from '../ports';
import { readPointer } from './get-twin-metadata.use-case';
import { eraseContent } from './erase-content';

/**
 * Erasure. The source of truth is erased before the answer (every day-blob in the pointer's history, the
 * catalog's current blob, the pointer) and the cache entry is dropped, so a read after DELETE is a 404 at
 * once; `twin.deleted.v1` then makes every projection erase the lead and remember the deletion version.
 */
export class DeleteTwinUseCase {
  constructor(
    private readonly content: ContentStore,
    private readonly catalog: TwinCatalog,
    private readonly cache: TwinCache,
    private readonly publisher: EventPublisher,
    private readonly versions: VersionGenerator,
    private readonly clock: Clock,
  ) {}

  async execute(rawLeadId: string): Promise<{ leadId: string; version: Version; status: 'deleted' }> {
    const leadId = parseLeadId(rawLeadId);
    const [record, found] = await Promise.all([this.catalog.get(leadId), readPointer(this.content, leadId)]);
    if (!record && !found) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    const version = this.versions.next();
    await this.cache.invalidate(leadId, version);
    const paths = new Set<string>(found?.pointer.history.map((h) => h.blobPath) ?? []);
    if (record) paths.add(record.blobPath);
    if (found) paths.add(found.pointer.blobPath);
    await eraseContent(this.content, [...paths], version);
    await this.content.delete(metadataPath(leadId));
    const now = this.clock.now();
    await this.publisher.publish([
      createEvent('twin.deleted.v1', { leadId, version, deletedAt: now.toISOString() }, { time: now }),
    ]);
    return { leadId, version, status: 'deleted' };
  }
}
