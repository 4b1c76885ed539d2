import { DomainError, metadataPath, parseLeadId, TwinPointer, TwinRecord } from '@twinstore/domain';
import { ContentStore, RecentWrites, TwinCatalog } from '../ports';

/**
 * The metadata record (catalog) and the version history (the pointer blob). Both are projections the writer
 * keeps: a version noted in RecentWrites that they do not show yet is added to the answer (read-your-writes).
 */
export class GetTwinMetadataUseCase {
  constructor(
    private readonly catalog: TwinCatalog,
    private readonly content: ContentStore,
    private readonly recentWrites?: RecentWrites,
  ) {}

  async metadata(rawLeadId: string): Promise<TwinRecord> {
    const leadId = parseLeadId(rawLeadId);
    const [record, noted] = await Promise.all([this.catalog.get(leadId), this.noted(leadId)]);
    const newest =
      noted && (!record || noted.version > record.version) && (await this.notDeleted(leadId, noted, !!record))
        ? noted
        : record;
    if (!newest) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    return newest;
  }

  async versions(rawLeadId: string): Promise<TwinPointer['history']> {
    const leadId = parseLeadId(rawLeadId);
    const [found, noted] = await Promise.all([readPointer(this.content, leadId), this.noted(leadId)]);
    let history = found?.pointer.history ?? [];
    if (
      noted &&
      (!found || noted.version > found.pointer.version) &&
      (await this.notDeleted(leadId, noted, !!found))
    ) {
      // As the writer will merge it: one entry per day-blob, the newest version of that day.
      const entry = {
        version: noted.version,
        blobPath: noted.blobPath,
        savedAt: noted.savedAt,
        size: noted.size,
      };
      // It is newer than the pointer's head, so newer than any entry of its day.
      history = [...history.filter((h) => h.blobPath !== noted.blobPath), entry];
    }
    if (history.length === 0) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    return [...history].sort((a, b) => (a.version < b.version ? 1 : -1));
  }

  /** Like the cache, the note only helps: when its store fails, the projections answer alone. */
  private async noted(leadId: string): Promise<TwinRecord | null> {
    return (await this.recentWrites?.latest(leadId).catch(() => null)) ?? null;
  }

  /**
   * RecentWrites forgets a lead on DELETE and ignores older notes after it; when the projections show nothing
   * of the lead, its catalog tombstone is checked as well, so a note can never outlive an erasure.
   */
  private async notDeleted(leadId: string, noted: TwinRecord, projected: boolean): Promise<boolean> {
    if (projected) return true;
    const tombstone = await this.catalog.tombstone(leadId);
    return !tombstone || tombstone < noted.version;
  }
}

/** The pointer blob and its etag (for a conditional read-modify-write), or null. */
export async function readPointer(
  content: ContentStore,
  leadId: string,
): Promise<{ pointer: TwinPointer; etag: string } | null> {
  const blob = await content.get(metadataPath(leadId));
  return blob
    ? { pointer: JSON.parse(blob.body.toString('utf8')) as TwinPointer, etag: blob.properties.etag }
    : null;
}
