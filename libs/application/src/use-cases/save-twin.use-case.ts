import { createHash } from 'node:crypto';
import { createEvent, INLINE_CONTENT_MAX_BYTES } from '@twinstore/contracts';
import {
  contentPath,
  DomainError,
  isVersion,
  parseLeadId,
  TwinDocument,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import { Clock, ContentStore, EventPublisher, PreconditionFailedError, TwinCatalog } from '../ports';
import { readPointer } from './get-twin-metadata.use-case';

export interface SaveTwinCommand {
  leadId: string;
  document: TwinDocument;
  traceparent?: string;
  /**
   * Optimistic concurrency (`If-Match`): save only if the twin's current version is one of these, or, for
   * `*`, if the twin exists at all. Otherwise VersionConflictError, and nothing is written.
   */
  ifMatch?: '*' | readonly string[];
}

/** `If-Match` did not hold: the twin is at `currentVersion` (null: it does not exist). */
export class VersionConflictError extends DomainError {
  constructor(
    readonly leadId: string,
    readonly currentVersion: Version | null,
  ) {
    super(
      'TWIN.VERSION_CONFLICT',
      currentVersion
        ? `twin ${leadId} is at version ${currentVersion}, not the one If-Match names`
        : `twin ${leadId} does not exist`,
    );
    this.name = 'VersionConflictError';
  }
}

export interface SaveTwinResult {
  leadId: string;
  version: Version;
  blobPath: string;
  status: 'accepted';
}

export const MARKDOWN_CONTENT_TYPE = 'text/markdown; charset=utf-8';
const MAX_ATTEMPTS = 5;
/** If-Match versions whose day-blobs are read; a longer list still matches, its extra days are not read. */
const MAX_IF_MATCH_VERSIONS = 8;

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
    /** Consulted for `If-Match` only; without it the pointer and the day-blob decide. */
    private readonly catalog?: TwinCatalog,
  ) {}

  async execute(command: SaveTwinCommand): Promise<SaveTwinResult> {
    const leadId = parseLeadId(command.leadId);
    const { markdown, metadata } = command.document;
    const contentHash = createHash('sha256').update(markdown).digest('hex');
    const ifMatch = command.ifMatch;
    const known = ifMatch === undefined ? [] : await this.knownVersions(leadId, ifMatch);

    for (let attempt = 1; ; attempt++) {
      const version = this.versions.next();
      const blobPath = contentPath(leadId, version);
      const current = await this.content.head(blobPath);
      if (current && (current.metadata.version ?? '') >= version) {
        if (attempt < MAX_ATTEMPTS) continue; // another writer's clock is ahead: mint again
        throw new Error('could not mint a version newer than the stored one');
      }
      if (ifMatch !== undefined) {
        // Checked again on every attempt: a lost race on the day-blob (412 below) means another writer got in,
        // whose version is now the current one. That etag condition closes the race between this check and
        // the write for writers of the same day-blob only: two writers whose versions fall on different days
        // (around midnight UTC, or clocks apart) can both pass the check, and a DELETE racing the check is
        // not seen either. Closing those needs a per-lead lock or a conditional write on the pointer.
        const day = current?.metadata.version;
        const currentVersion = [...known, ...(isVersion(day) ? [day] : [])].sort().pop() ?? null;
        if (currentVersion === null || (ifMatch !== '*' && !ifMatch.includes(currentVersion))) {
          throw new VersionConflictError(leadId, currentVersion);
        }
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

  /**
   * Versions of the day-blobs that may hold the lead's current version, besides the one a new version goes to
   * (read in the loop): the catalog's, the pointer's, and the day-blobs of the versions If-Match names (their
   * path follows from the version, as for minVersion reads). The catalog and the pointer may lag behind the
   * blobs (projections are asynchronous) or name a blob a DELETE erased: the blobs, the source of truth, are
   * read rather than the records trusted. What can still be missed: a newer version on a fourth day-blob while
   * both projections lag (the If-Match then passes although it should not).
   */
  private async knownVersions(leadId: string, ifMatch: '*' | readonly string[]): Promise<Version[]> {
    const [record, pointer] = await Promise.all([
      this.catalog ? this.catalog.get(leadId) : null,
      readPointer(this.content, leadId),
    ]);
    const named = ifMatch === '*' ? [] : ifMatch.filter(isVersion).slice(0, MAX_IF_MATCH_VERSIONS);
    const paths = new Set([
      ...[record?.blobPath, pointer?.pointer.blobPath].filter((p) => p !== undefined),
      ...named.map((v) => contentPath(leadId, v)),
    ]);
    const heads = await Promise.all([...paths].map((path) => this.content.head(path)));
    return heads.map((h) => h?.metadata.version).filter(isVersion);
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
