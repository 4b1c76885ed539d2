import { createHash } from 'node:crypto';
import { createEvent, INLINE_CONTENT_MAX_BYTES, TwinEvent } from '@twinstore/contracts';
import {
  contentPath,
  DomainError,
  isVersion,
  parseLeadId,
  TwinDocument,
  TwinRecord,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import {
  BlobProperties,
  Clock,
  ContentStore,
  EventPublisher,
  PreconditionFailedError,
  PutBlobItem,
  RecentWrites,
  TwinCatalog,
} from '../ports';
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

export interface SaveTwinOptions {
  /** Told every accepted version before it is published and answered (read-your-writes). */
  recentWrites?: RecentWrites;
  /**
   * Markdown at or below this many bytes travels inline in `twin.saved.v1`; larger content goes by reference
   * (`blobPath`, a claim check). Default INLINE_CONTENT_MAX_BYTES; 0 sends every event by reference.
   */
  inlineMaxBytes?: number;
}

export const MARKDOWN_CONTENT_TYPE = 'text/markdown; charset=utf-8';
const MAX_ATTEMPTS = 5;
/** If-Match versions whose day-blobs are read; a longer list still matches, its extra days are not read. */
const MAX_IF_MATCH_VERSIONS = 8;
/** Blob writes (and the reads a refused create needs) in flight at once for a store without putMany(). */
const WRITE_CONCURRENCY = 16;

/** One document of executeMany() on its way: the version it is being written as, and how. */
interface PendingSave {
  index: number;
  leadId: string;
  command: SaveTwinCommand;
  contentHash: string;
  version: Version;
  blobPath: string;
  /** The condition of the next write: create-first, or replace the day-blob version read after a refusal. */
  ifMatch?: string;
  /** Writes made and versions minted again after a refusal; at most MAX_ATTEMPTS. */
  attempts: number;
}

/**
 * Writes the version to the blob store (the source of truth) and only then publishes `twin.saved.v1`.
 * The day-blob holds the newest version of that day: a write never replaces a newer version (conditional
 * write on the blob's etag; a lost race mints a newer version and tries again).
 */
export class SaveTwinUseCase {
  private readonly recentWrites: RecentWrites | undefined;
  private readonly inlineMaxBytes: number;

  constructor(
    private readonly content: ContentStore,
    private readonly publisher: EventPublisher,
    private readonly versions: VersionGenerator,
    private readonly clock: Clock,
    /** Consulted for `If-Match` only; without it the pointer and the day-blob decide. */
    private readonly catalog?: TwinCatalog,
    options: SaveTwinOptions = {},
  ) {
    this.recentWrites = options.recentWrites;
    this.inlineMaxBytes = options.inlineMaxBytes ?? INLINE_CONTENT_MAX_BYTES;
    if (!Number.isInteger(this.inlineMaxBytes) || this.inlineMaxBytes < 0) {
      throw new Error('inlineMaxBytes must be a non-negative integer');
    }
  }

  async execute(command: SaveTwinCommand): Promise<SaveTwinResult> {
    if (command.ifMatch === undefined) {
      const [outcome] = await this.executeMany([command]);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    }
    return this.executeIfMatch(command, command.ifMatch);
  }

  /**
   * Saves many documents as one group: every blob is written (create-first, see writeRound), the accepted
   * versions are noted and then published in ONE publish call, and the results come back in command order,
   * each a SaveTwinResult or the error of that command alone (a refused or failing document does not fail the
   * others). Commands of the same lead are written one after the other in command order, so the last one is
   * the newest version. A failed publish fails every command whose blob it was to announce: their blobs are
   * written but the consumers were not told (the reconciler finds them). `If-Match` is not taken here.
   */
  async executeMany(commands: readonly SaveTwinCommand[]): Promise<(SaveTwinResult | Error)[]> {
    const outcomes: (SaveTwinResult | Error)[] = new Array(commands.length);
    // Round r holds the r-th command of each lead: a lead's versions are minted in command order.
    const rounds: PendingSave[][] = [];
    const seen = new Map<string, number>();
    commands.forEach((command, index) => {
      try {
        if (command.ifMatch !== undefined) throw new Error('executeMany does not take If-Match; use execute');
        const leadId = parseLeadId(command.leadId);
        const round = seen.get(leadId) ?? 0;
        seen.set(leadId, round + 1);
        const contentHash = createHash('sha256').update(command.document.markdown).digest('hex');
        (rounds[round] ??= []).push({
          index,
          leadId,
          command,
          contentHash,
          version: '' as Version,
          blobPath: '',
          attempts: 0,
        });
      } catch (e) {
        outcomes[index] = asError(e);
      }
    });
    const written: PendingSave[] = [];
    for (const round of rounds) {
      for (const save of round) this.mint(save);
      const failures = await this.writeRound(round);
      for (const save of round) {
        const failure = failures.get(save);
        if (failure) outcomes[save.index] = failure;
        else written.push(save);
      }
    }
    if (written.length === 0) return outcomes;
    written.sort((a, b) => a.index - b.index);
    const savedAt = this.clock.now();
    try {
      await this.recentWrites?.note(written.map((save) => this.record(save, savedAt)));
      await this.publisher.publish(written.map((save) => this.event(save, savedAt)));
    } catch (e) {
      for (const save of written) outcomes[save.index] = asError(e);
      return outcomes;
    }
    for (const { index, leadId, version, blobPath } of written) {
      outcomes[index] = { leadId, version, blobPath, status: 'accepted' };
    }
    return outcomes;
  }

  /**
   * Writes the day-blobs of one round, create-first: `If-None-Match: *` needs no read before it, and is all a
   * new lead (or the first version of a day) costs. Only a refused create reads the day-blob: a version as new
   * as ours there means another writer's clock is ahead (mint again), an older one is replaced on its etag.
   * Refused conditional writes go round again, each document within MAX_ATTEMPTS writes. Returns the failed.
   */
  private async writeRound(round: PendingSave[]): Promise<Map<PendingSave, Error>> {
    const failures = new Map<PendingSave, Error>();
    let active = round;
    while (active.length > 0) {
      for (const save of active) save.attempts++;
      const results = await this.putAll(active);
      const refused: PendingSave[] = [];
      active.forEach((save, i) => {
        const result = results[i];
        if (!(result instanceof Error)) return;
        if (result instanceof PreconditionFailedError && save.attempts < MAX_ATTEMPTS) refused.push(save);
        else failures.set(save, result);
      });
      const heads = await mapLimited(refused, WRITE_CONCURRENCY, (save) =>
        this.content.head(save.blobPath).then(
          (current) => current,
          (e: unknown) => asError(e),
        ),
      );
      active = [];
      refused.forEach((save, i) => {
        const current = heads[i];
        if (current instanceof Error) failures.set(save, current);
        else if (this.prepareRetry(save, current)) active.push(save);
        else failures.set(save, new Error('could not mint a version newer than the stored one'));
      });
    }
    return failures;
  }

  /**
   * After a refused write: the condition for the next one against `current` (the day-blob as read now), minting
   * newer versions while the stored one is as new. False when the attempts ran out doing so.
   */
  private prepareRetry(save: PendingSave, current: BlobProperties | null): boolean {
    while (current && (current.metadata.version ?? '') >= save.version) {
      if (save.attempts >= MAX_ATTEMPTS) return false;
      save.attempts++;
      const day = save.blobPath;
      this.mint(save);
      if (save.blobPath !== day) current = null; // the new version belongs to another (next) day's blob
    }
    save.ifMatch = current?.etag;
    return true;
  }

  private mint(save: PendingSave): void {
    save.version = this.versions.next();
    save.blobPath = contentPath(save.leadId, save.version);
    save.ifMatch = undefined;
  }

  /** One write per document, in one putMany() group when the store has it. */
  private async putAll(saves: PendingSave[]): Promise<({ etag: string } | Error)[]> {
    const items: PutBlobItem[] = saves.map((save) => ({
      path: save.blobPath,
      body: save.command.document.markdown,
      options: {
        contentType: MARKDOWN_CONTENT_TYPE,
        metadata: { version: save.version, leadid: save.leadId, sha256: save.contentHash },
        ...(save.ifMatch !== undefined ? { ifMatch: save.ifMatch } : { ifNoneMatch: '*' as const }),
      },
    }));
    if (this.content.putMany && items.length > 1) {
      try {
        return await this.content.putMany(items);
      } catch (e) {
        return items.map(() => asError(e));
      }
    }
    return mapLimited(items, WRITE_CONCURRENCY, (item) =>
      this.content.put(item.path, item.body, item.options).then(
        (r) => r,
        (e: unknown) => asError(e),
      ),
    );
  }

  private record(save: PendingSave, savedAt: Date): TwinRecord {
    return {
      leadId: save.leadId,
      version: save.version,
      blobPath: save.blobPath,
      contentHash: save.contentHash,
      size: save.command.document.markdown.length,
      savedAt: savedAt.toISOString(),
      metadata: save.command.document.metadata,
    };
  }

  private event(save: PendingSave, savedAt: Date): TwinEvent {
    const { markdown, metadata } = save.command.document;
    const inline = markdown.length <= this.inlineMaxBytes;
    return createEvent(
      'twin.saved.v1',
      {
        leadId: save.leadId,
        version: save.version,
        blobPath: save.blobPath,
        contentHash: save.contentHash,
        size: markdown.length,
        contentType: 'text/markdown',
        savedAt: savedAt.toISOString(),
        metadata,
        ...(inline ? { markdown: markdown.toString('utf8') } : {}),
      },
      { id: savedEventId(save.leadId, save.version), time: savedAt, traceparent: save.command.traceparent },
    );
  }

  /**
   * `If-Match` saves read before they write: the condition is on the twin's current version, which may be on
   * another day-blob than the one the new version goes to.
   */
  private async executeIfMatch(
    command: SaveTwinCommand,
    ifMatch: '*' | readonly string[],
  ): Promise<SaveTwinResult> {
    const leadId = parseLeadId(command.leadId);
    const { markdown } = command.document;
    const contentHash = createHash('sha256').update(markdown).digest('hex');
    const known = await this.knownVersions(leadId, ifMatch);

    for (let attempt = 1; ; attempt++) {
      const version = this.versions.next();
      const blobPath = contentPath(leadId, version);
      const current = await this.content.head(blobPath);
      if (current && (current.metadata.version ?? '') >= version) {
        if (attempt < MAX_ATTEMPTS) continue; // another writer's clock is ahead: mint again
        throw new Error('could not mint a version newer than the stored one');
      }
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
      const save: PendingSave = {
        index: 0,
        leadId,
        command,
        contentHash,
        version,
        blobPath,
        attempts: attempt,
      };
      const savedAt = this.clock.now();
      await this.recentWrites?.note([this.record(save, savedAt)]);
      await this.publisher.publish([this.event(save, savedAt)]);
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

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** `fn` over `items` with at most `limit` calls in flight; results in item order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
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
