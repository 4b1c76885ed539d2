import { createEvent } from '@twinstore/contracts';
import {
  contentPathOn,
  DomainError,
  metadataPath,
  parseLeadId,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import {
  AuditLog,
  auditSubject,
  Clock,
  ContentStore,
  EventPublisher,
  RecentWrites,
  TwinCache,
  TwinCatalog,
} from '../ports';
import { readPointer } from './get-twin-metadata.use-case';
import { eraseContent } from './erase-content';

/**
 * Erasure. The source of truth is erased before the answer (every day-blob in the pointer's history, the
 * catalog's current blob, the pointer) and the cache entry is dropped, so a read after DELETE is a 404 at
 * once; `twin.deleted.v1` then makes every projection erase the lead and remember the deletion version.
 * Before the event goes out an audit record says who erased which lead (as a hash) when, with counts only.
 */
export class DeleteTwinUseCase {
  constructor(
    private readonly content: ContentStore,
    private readonly catalog: TwinCatalog,
    private readonly cache: TwinCache,
    private readonly publisher: EventPublisher,
    private readonly versions: VersionGenerator,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    /** Erases a bundled (cold) twin's bytes from its bundle. */
    private readonly bundles?: { eraseFromBundle(leadId: string): Promise<unknown> },
    /** Forgets the lead's noted versions, so read-your-writes cannot answer an erased twin. */
    private readonly recentWrites?: RecentWrites,
  ) {}

  async execute(
    rawLeadId: string,
    context: { actor?: string; requestId?: string } = {},
  ): Promise<{ leadId: string; version: Version; status: 'deleted' }> {
    const leadId = parseLeadId(rawLeadId);
    // A version accepted moments ago may not be projected yet (no catalog record, no pointer): its day-blob
    // is today's or, just after midnight, yesterday's. Erasing it here, with the deletion's tombstone, makes
    // DELETE right after PUT work; the writer erases that save's blob again if its event arrives later.
    const today = this.clock.now();
    const recent = [today, new Date(today.getTime() - 86_400_000)].map((d) => contentPathOn(leadId, d));
    const [record, found, ...recentBlobs] = await Promise.all([
      this.catalog.get(leadId),
      readPointer(this.content, leadId),
      ...recent.map((p) => this.content.head(p)),
    ]);
    const unprojected = recentBlobs.filter((b) => b !== null).map((b) => b.path);
    if (!record && !found && unprojected.length === 0) {
      throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    }
    const version = this.versions.next();
    await this.cache.invalidate(leadId, version);
    // Before the erasure: from here on no read answers a noted version at or below the deletion, and a save
    // accepted before the DELETE whose note comes later is ignored too.
    await this.recentWrites?.forget(leadId, version);
    const paths = new Set<string>(found?.pointer.history.map((h) => h.blobPath) ?? []);
    if (record) paths.add(record.blobPath);
    if (found) paths.add(found.pointer.blobPath);
    for (const p of unprojected) paths.add(p);
    await eraseContent(this.content, [...paths], version);
    await this.bundles?.eraseFromBundle(leadId);
    await this.content.delete(metadataPath(leadId));
    const now = this.clock.now();
    // A failure here is a 5xx: the catalog still has the lead, so the client's retry erases (nothing) again,
    // records, and publishes. The record id is the deletion version: a record is never written twice.
    await this.audit.append({
      id: version,
      at: now.toISOString(),
      action: 'twin.erased',
      subject: auditSubject(leadId),
      actor: context.actor ?? 'unknown',
      version,
      ...(context.requestId ? { requestId: context.requestId } : {}),
      details: { contentBlobs: paths.size },
    });
    await this.publisher.publish([
      createEvent('twin.deleted.v1', { leadId, version, deletedAt: now.toISOString() }, { time: now }),
    ]);
    return { leadId, version, status: 'deleted' };
  }
}
