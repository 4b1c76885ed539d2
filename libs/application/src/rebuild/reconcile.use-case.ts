import { INLINE_CONTENT_MAX_BYTES, TwinEvent } from '@twinstore/contracts';
import { CONTENT_PREFIX, versionTime } from '@twinstore/domain';
import { Clock, ContentStore, EventPublisher, TwinCatalog } from '../ports';
import { BlobProblem, DayBlob, dayBlobOf, isBlobProblem, mapBounded } from './day-blob';
import { REPORT_SAMPLE } from './rebuild-projections.use-case';
import {
  isRecoveredExactly,
  METADATA_SOURCES,
  MetadataSource,
  readDayBlob,
  readPointerLeniently,
  recoverMetadata,
  recoverSavedAt,
  savedEventFor,
} from './recover';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Longer windows are listed in one pass over every day-blob instead of one listing per day. */
const MAX_DAY_LISTINGS = 62;

export interface ReconcileDeps {
  content: ContentStore;
  catalog: TwinCatalog;
  publisher: EventPublisher;
  clock: Clock;
}

export interface ReconcileOptions {
  /** Versions accepted at or after this time are checked (default: 48 hours ago). */
  since?: Date;
  /**
   * Versions younger than this are left alone: their save may still be publishing (default 5 minutes).
   * Make it longer than the writer's usual lag, or announced versions are published again (harmless:
   * same event id, and every consumer is idempotent).
   */
  graceMs?: number;
  /** Day-blobs checked, and events published, per batch (default 100). */
  batchSize?: number;
  /** Checks in flight at once within a batch (default 8). */
  concurrency?: number;
  /** Find and report, publish nothing. */
  dryRun?: boolean;
  onProgress?: (progress: ReconcileProgress) => void;
}

export interface ReconcileProgress {
  /** Day-blobs in the window checked so far. */
  checked: number;
  unannounced: number;
  published: number;
}

export interface ReconcileReport {
  dryRun: boolean;
  window: { from: string; to: string };
  /** Day-blobs in the window. */
  checked: number;
  /** Of those, versions the catalog or pointer already has (or a newer one). */
  announced: number;
  /** Versions accepted but never announced. */
  unannounced: number;
  /** Their `twin.saved.v1`, published (0 on a dry run). */
  published: number;
  events: { leadId: string; version: string; eventId: string }[];
  metadata: Record<MetadataSource, number>;
  unrecoveredMetadata: string[];
  invalid: { count: number; sample: BlobProblem[] };
  corrupt: { count: number; sample: BlobProblem[] };
  /** Deleted, or replaced by a version still in its grace period, between listing and reading. */
  skipped: number;
  elapsedMs: number;
}

/**
 * The reconciler of the crash between blob write and publish: SaveTwinUseCase writes the day-blob (the
 * version is accepted, 202) and only then publishes; a process that dies in between leaves a version no
 * projection will ever see. This finds the day-blobs of a time window whose version is newer than what the
 * catalog (else the pointer) holds for the lead and publishes the `twin.saved.v1` the save would have
 * published, with the same event id (`savedEventId`), in bounded batches. Once the consumers have run,
 * the catalog has caught up and a second run publishes nothing.
 *
 * The metadata travels only in the lost event: it is recovered from front matter (text/markdown twins),
 * else carried over from the pointer's older version, else the defaults; such leads are reported.
 *
 * Cold twins are never taken for unannounced: their bytes are in a bundle (`tiering/bundles/`), which is not
 * listed, and no day-blob of theirs is left; a rehydrated twin's day-blob is written back at the version the
 * catalog (and pointer) already hold. A version accepted but never announced is never bundled either: the
 * tiering records only what was announced.
 */
export class ReconcileUseCase {
  constructor(private readonly deps: ReconcileDeps) {}

  async execute(options: ReconcileOptions = {}): Promise<ReconcileReport> {
    const started = performance.now();
    const now = this.deps.clock.now();
    const graceMs = options.graceMs ?? 5 * 60_000;
    const from = options.since ?? new Date(now.getTime() - 48 * HOUR_MS);
    const to = new Date(now.getTime() - graceMs);
    const batchSize = options.batchSize ?? 100;
    const concurrency = options.concurrency ?? 8;
    for (const [name, n] of [
      ['batchSize', batchSize],
      ['concurrency', concurrency],
    ] as const) {
      if (!Number.isSafeInteger(n) || n < 1)
        throw new RangeError(`${name} must be an integer >= 1, got ${n}`);
    }
    if (!(graceMs >= 0) || Number.isNaN(from.getTime())) throw new RangeError('window is invalid');
    const dryRun = options.dryRun === true;
    const report: ReconcileReport = {
      dryRun,
      window: { from: from.toISOString(), to: to.toISOString() },
      checked: 0,
      announced: 0,
      unannounced: 0,
      published: 0,
      events: [],
      metadata: Object.fromEntries(METADATA_SOURCES.map((s) => [s, 0])) as Record<MetadataSource, number>,
      unrecoveredMetadata: [],
      invalid: { count: 0, sample: [] },
      corrupt: { count: 0, sample: [] },
      skipped: 0,
      elapsedMs: 0,
    };

    let batch: DayBlob[] = [];
    const flush = async () => {
      const events = (await mapBounded(batch, concurrency, (b) => this.check(b, to, report))).filter(
        (e): e is TwinEvent => e !== null,
      );
      report.checked += batch.length;
      batch = [];
      if (events.length > 0 && !dryRun) {
        await this.deps.publisher.publish(events);
        report.published += events.length;
      }
      options.onProgress?.({
        checked: report.checked,
        unannounced: report.unannounced,
        published: report.published,
      });
    };

    if (from <= to) {
      for (const prefix of dayPrefixes(from, to)) {
        for await (const props of this.deps.content.list(prefix)) {
          const blob = dayBlobOf(props);
          if (blob === null) continue;
          if (isBlobProblem(blob)) {
            push(report.invalid, blob);
            continue;
          }
          const at = versionTime(blob.version);
          if (at < from || at > to) continue;
          batch.push(blob);
          if (batch.length >= batchSize) await flush();
        }
      }
    }
    await flush(); // the rest (or nothing: then it only reports progress)
    report.elapsedMs = performance.now() - started;
    return report;
  }

  /** The event to publish for this day-blob, or null when its version was announced (or cannot be). */
  private async check(listed: DayBlob, to: Date, report: ReconcileReport): Promise<TwinEvent | null> {
    const { leadId, version } = listed;
    const record = await this.deps.catalog.get(leadId);
    if (record && record.version >= version) {
      report.announced++;
      return null;
    }
    // The catalog may not hold the lead (tiered out of the hot set, or not yet caught up): the pointer.
    const pointer = await readPointerLeniently(this.deps.content, leadId);
    if (pointer && (pointer.version >= version || pointer.history.some((h) => h.version === version))) {
      report.announced++;
      return null;
    }
    const read = await readDayBlob(this.deps.content, listed);
    if (read.kind === 'gone') {
      report.skipped++;
      return null;
    }
    if (read.kind === 'corrupt') {
      push(report.corrupt, read.problem);
      return null;
    }
    const blob = read.blob;
    // A newer write of the same day since the listing: its own save publishes it (or a later run will).
    if (blob.version !== version && versionTime(blob.version) > to) {
      report.skipped++;
      return null;
    }
    const body = read.kind === 'ok' ? read.body : null;
    const { metadata, source } = recoverMetadata(blob.version, body, pointer);
    report.unannounced++;
    report.metadata[source]++;
    if (!isRecoveredExactly(source) && report.unrecoveredMetadata.length < REPORT_SAMPLE) {
      report.unrecoveredMetadata.push(leadId);
    }
    const event = savedEventFor({
      blob,
      metadata,
      savedAt: recoverSavedAt(blob.version, pointer),
      // As the save does: inline when small, else a claim check on the day-blob.
      ...(body && body.length <= INLINE_CONTENT_MAX_BYTES ? { markdown: body.toString('utf8') } : {}),
    });
    if (report.events.length < REPORT_SAMPLE) {
      report.events.push({ leadId, version: blob.version, eventId: event.id });
    }
    return event;
  }
}

/** `digital-twins/{yyyy}/{mm}/{dd}/` of every UTC day from `from` to `to`, or the whole prefix for long windows. */
export function dayPrefixes(from: Date, to: Date): string[] {
  const first = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  const days = Math.floor((to.getTime() - first) / DAY_MS) + 1;
  if (days > MAX_DAY_LISTINGS) return [CONTENT_PREFIX];
  const pad = (n: number) => String(n).padStart(2, '0');
  return Array.from({ length: days }, (_, i) => {
    const d = new Date(first + i * DAY_MS);
    return `${CONTENT_PREFIX}${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/`;
  });
}

function push(target: { count: number; sample: BlobProblem[] }, problem: BlobProblem): void {
  target.count++;
  if (target.sample.length < REPORT_SAMPLE) target.sample.push(problem);
}
