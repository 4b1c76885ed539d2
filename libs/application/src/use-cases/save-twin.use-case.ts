import { createHash } from 'node:crypto';
import { createEvent, INLINE_CONTENT_MAX_BYTES } from '@twinstore/contracts';
import { contentPath, parseLeadId, TwinDocument, Version, VersionGenerator } from '@twinstore/domain';
import { Clock, ContentStore, EventPublisher, PreconditionFailedError } from '../ports';

export interface SaveTwinCommand {
  leadId: string;
  document: TwinDocument;
  traceparent?: string;
}

export interface SaveTwinResult {
  leadId: string;
  version: Version;
  blobPath: string;
  status: 'accepted';
}

export const MARKDOWN_CONTENT_TYPE = 'text/markdown; charset=utf-8';
const MAX_ATTEMPTS = 5;

/**
 * Writes the version to the blob store (the source of truth) and only then publishes `twin.saved.v1`.
 * The day-blob holds the newest version of that day: a write never replaces a newer version (conditional
 * write on the blob's etag; a lost race mints a newer version and tries again).
 */
export class SaveTwinUseCase {
  constructor(
    private readonly content: ContentStore,
    private readonly publisher: EventPublisher,
    private readonly versions: VersionGenerator,
    private readonly clock: Clock,
  ) {}

  async execute(command: SaveTwinCommand): Promise<SaveTwinResult> {
    const leadId = parseLeadId(command.leadId);
    const { markdown, metadata } = command.document;
    const contentHash = createHash('sha256').update(markdown).digest('hex');

    for (let attempt = 1; ; attempt++) {
      const version = this.versions.next();
      const blobPath = contentPath(leadId, version);
      const current = await this.content.head(blobPath);
      if (current && (current.metadata.version ?? '') >= version) {
        if (attempt < MAX_ATTEMPTS) continue; // another writer's clock is ahead: mint again
        throw new Error('could not mint a version newer than the stored one');
      }
      try {
        await this.content.put(blobPath, markdown, {
          contentType: MARKDOWN_CONTENT_TYPE,
          metadata: { version, leadid: leadId, sha256: contentHash },
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' }),
        });
      } catch (e) {
        if (e instanceof PreconditionFailedError && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
      const savedAt = this.clock.now();
      const inline = markdown.length <= INLINE_CONTENT_MAX_BYTES;
      const event = createEvent(
        'twin.saved.v1',
        {
          leadId,
          version,
          blobPath,
          contentHash,
          size: markdown.length,
          contentType: 'text/markdown',
          savedAt: savedAt.toISOString(),
          metadata,
          ...(inline ? { markdown: markdown.toString('utf8') } : {}),
        },
        { id: savedEventId(leadId, version), time: savedAt, traceparent: command.traceparent },
      );
      await this.publisher.publish([event]);
      return { leadId, version, blobPath, status: 'accepted' };
    }
  }
}

/**
 * `{leadId}:{version}`, unless that exceeds the 128 characters an event id (and a Service Bus message id) may
 * have: a leadId may itself be 128 characters. Then the leadId part is its sha256 prefix.
 */
export function savedEventId(leadId: string, version: Version): string {
  const id = `${leadId}:${version}`;
  return id.length <= 128
    ? id
    : `${createHash('sha256').update(leadId).digest('hex').slice(0, 64)}:${version}`;
}
