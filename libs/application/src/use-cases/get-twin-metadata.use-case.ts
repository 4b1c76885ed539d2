import { DomainError, metadataPath, parseLeadId, TwinPointer, TwinRecord } from '@twinstore/domain';
import { ContentStore, TwinCatalog } from '../ports';

/** The metadata record (catalog) and the version history (the pointer blob). */
export class GetTwinMetadataUseCase {
  constructor(
    private readonly catalog: TwinCatalog,
    private readonly content: ContentStore,
  ) {}

  async metadata(rawLeadId: string): Promise<TwinRecord> {
    const leadId = parseLeadId(rawLeadId);
    const record = await this.catalog.get(leadId);
    if (!record) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    return record;
  }

  async versions(rawLeadId: string): Promise<TwinPointer['history']> {
    const leadId = parseLeadId(rawLeadId);
    const found = await readPointer(this.content, leadId);
    if (!found) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    return [...found.pointer.history].sort((a, b) => (a.version < b.version ? 1 : -1));
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
