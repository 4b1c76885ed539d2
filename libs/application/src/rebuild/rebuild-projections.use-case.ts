import { CONTENT_PREFIX, TierThresholds } from '@twinstore/domain';
import { ConsumerName } from '../handlers/consumers';
import { ActivityStore, Clock, ContentStore, EventHandler, HandlerOutcome } from '../ports';
import { BlobProblem, DayBlob, dayBlobOf, isBlobProblem, mapBounded } from './day-blob';
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

/** At most this many items of each list in a report (the counts are always complete). */
export const REPORT_SAMPLE = 20;

export interface RebuildProjectionsDeps {
  content: ContentStore;
  /**
   * The consumers' own handlers (the ones the bus drives), by subscription: the rebuild delivers to them the
   * `twin.saved.v1` of each lead's newest version, so there is one code path for every projection. `writer`
   * also receives the older versions missing from the pointer's history, which rebuilds the history.
   */
  handlers: Partial<Record<ConsumerName, EventHandler>>;
  /** With thresholds: one tiering sweep after the rebuild (the tiering handler records each write as hot). */
  activity?: ActivityStore;
  thresholds?: TierThresholds;
  clock: Clock;
}

export interface RebuildProgress {
  phase: 'scan' | 'rebuild';
  /** Day-blobs listed so far. */
  blobs: number;
  /** Leads found (known once the scan is done). */
  leads: number;
  /** Leads finished. */
  done: number;
  failed: number;
}

export interface RebuildOptions {
  /** Read, verify and recover everything, deliver nothing. */
  dryRun?: boolean;
  /** Leads rebuilt at once (default 16). */
  concurrency?: number;
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildReport {
  dryRun: boolean;
  /** Content day-blobs listed (pointers and other names excluded). */
  blobs: number;
  leads: number;
  /** Leads whose newest readable version was delivered to every handler without failure. */
  rebuilt: number;
  /** Per subscription: deliveries that changed the projection (`done`) and that changed nothing (`skip`). */
  outcomes: Record<string, { done: number; skip: number }>;
  /** Older versions given to the writer to complete a pointer's day-blob history. */
  historyEntries: number;
  /** How each rebuilt lead's metadata was found. */
  metadata: Record<MetadataSource, number>;
  /** Leads whose metadata had neither pointer at that version nor front matter (first REPORT_SAMPLE). */
  unrecoveredMetadata: string[];
  /** Day-blobs whose metadata does not hold up; never projected. */
  invalid: { count: number; sample: BlobProblem[] };
  /** Day-blobs whose bytes do not match their sha256; an older version of the lead is used instead. */
  corrupt: { count: number; sample: BlobProblem[] };
  /** Leads of which no version could be read (all corrupt or deleted meanwhile). */
  unreadable: { count: number; sample: string[] };
  /** Newest versions in the archive tier, delivered as claim checks (not verified). */
  archived: number;
  failures: { count: number; sample: { leadId: string; subscription: string; reason: string }[] };
  /** Twins whose tier the closing sweep changed. */
  tierChanges: number;
  elapsedMs: number;
  /** Leads per second over the whole run (scan included). */
  twinsPerSecond: number;
}

/** Candidate versions of a lead: compact, since the scan holds one per day-blob in memory. */
type Candidate = Omit<DayBlob, 'leadId'>;

/**
 * `twins reindex`: rebuilds every projection from the blob store alone (ARCHITECTURE decision 1). Walks the
 * content day-blobs (`digital-twins/{yyyy}/{mm}/{dd}/{leadId}.md`, never the pointers), groups them by lead,
 * takes each lead's newest version whose bytes match its sha256, recovers its metadata (pointer at that
 * version, else front matter, else reported) and delivers the `twin.saved.v1` the save would have published
 * to the consumers' handlers directly. Handlers are version-guarded, so it can run on live projections and
 * alongside the consumers: it never moves a projection backwards.
 *
 * Memory: one small record per day-blob (about 200 bytes) while grouping, e.g. ~200 MB for a million.
 * Not recoverable from the blobs: deletion tombstones of erased leads (their blobs are gone, so nothing is
 * rebuilt for them) and last-access times (tiers after the rebuild follow the last write only).
 */
export class RebuildProjectionsUseCase {
  constructor(private readonly deps: RebuildProjectionsDeps) {}

  async execute(options: RebuildOptions = {}): Promise<RebuildReport> {
    const started = performance.now();
    const dryRun = options.dryRun === true;
    const concurrency = options.concurrency ?? 16;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
    }
    const handlers = Object.entries(this.deps.handlers).filter(
      (e): e is [ConsumerName, EventHandler] => e[1] !== undefined,
    );
    const report: RebuildReport = {
      dryRun,
      blobs: 0,
      leads: 0,
      rebuilt: 0,
      outcomes: Object.fromEntries(handlers.map(([name]) => [name, { done: 0, skip: 0 }])),
      historyEntries: 0,
      metadata: Object.fromEntries(METADATA_SOURCES.map((s) => [s, 0])) as Record<MetadataSource, number>,
      unrecoveredMetadata: [],
      invalid: { count: 0, sample: [] },
      corrupt: { count: 0, sample: [] },
      unreadable: { count: 0, sample: [] },
      archived: 0,
      failures: { count: 0, sample: [] },
      tierChanges: 0,
      elapsedMs: 0,
      twinsPerSecond: 0,
    };
    const progress = (phase: RebuildProgress['phase'], done: number) =>
      options.onProgress?.({
        phase,
        blobs: report.blobs,
        leads: report.leads,
        done,
        failed: report.failures.count + report.unreadable.count,
      });

    // 1. Scan: every content day-blob, grouped by lead.
    const byLead = new Map<string, Candidate[]>();
    for await (const props of this.deps.content.list(CONTENT_PREFIX)) {
      const blob = dayBlobOf(props);
      if (blob === null) continue;
      if (isBlobProblem(blob)) {
        push(report.invalid, blob);
        continue;
      }
      report.blobs++;
      const { leadId: _leadId, ...candidate } = blob;
      const list = byLead.get(blob.leadId);
      if (list) list.push(candidate);
      else byLead.set(blob.leadId, [candidate]);
      if (report.blobs % 1000 === 0) progress('scan', 0);
    }
    report.leads = byLead.size;
    progress('scan', 0);

    // 2. Rebuild, lead by lead, a bounded number at once.
    let done = 0;
    await mapBounded([...byLead.keys()], concurrency, async (leadId) => {
      const candidates = byLead.get(leadId)!.sort((a, b) => (a.version < b.version ? 1 : -1));
      byLead.delete(leadId);
      await this.rebuildLead(leadId, candidates, handlers, dryRun, report);
      done++;
      if (done % 100 === 0 || done === report.leads) progress('rebuild', done);
    });
    progress('rebuild', done);

    // 3. Tiers: the tiering handler records every write as hot; the sweep moves each twin where it belongs.
    if (!dryRun && this.deps.activity && this.deps.thresholds && this.deps.handlers.tiering) {
      report.tierChanges = await this.deps.activity.sweep(this.deps.clock.now(), this.deps.thresholds);
    }

    report.elapsedMs = performance.now() - started;
    report.twinsPerSecond = report.elapsedMs > 0 ? (report.leads * 1000) / report.elapsedMs : 0;
    return report;
  }

  private async rebuildLead(
    leadId: string,
    candidates: Candidate[],
    handlers: [ConsumerName, EventHandler][],
    dryRun: boolean,
    report: RebuildReport,
  ): Promise<void> {
    const pointer = await readPointerLeniently(this.deps.content, leadId);
    // The newest version whose bytes hold up; newer corrupt ones are reported and passed over.
    let chosen: { blob: DayBlob; body: Buffer | null; index: number } | null = null;
    for (const [index, candidate] of candidates.entries()) {
      const read = await readDayBlob(this.deps.content, { leadId, ...candidate });
      if (read.kind === 'gone') continue;
      if (read.kind === 'corrupt') {
        push(report.corrupt, read.problem);
        continue;
      }
      if (read.kind === 'archived') report.archived++;
      chosen = { blob: read.blob, body: read.kind === 'ok' ? read.body : null, index };
      break;
    }
    if (!chosen) {
      report.unreadable.count++;
      if (report.unreadable.sample.length < REPORT_SAMPLE) report.unreadable.sample.push(leadId);
      return;
    }

    const { blob, body } = chosen;
    const { metadata, source } = recoverMetadata(blob.version, body, pointer);
    report.metadata[source]++;
    if (!isRecoveredExactly(source) && report.unrecoveredMetadata.length < REPORT_SAMPLE) {
      report.unrecoveredMetadata.push(leadId);
    }
    const event = savedEventFor({
      blob,
      metadata,
      savedAt: recoverSavedAt(blob.version, pointer),
      // Delivered in-process, so inline whatever the size: the handlers need not read the blob again.
      ...(body ? { markdown: body.toString('utf8') } : {}),
    });

    // Older versions (the lead's history) missing from the pointer: only the writer keeps history.
    const known = new Set<string>(pointer?.history.map((h) => h.version) ?? []);
    const history = candidates
      .slice(chosen.index + 1)
      .filter((c) => !known.has(c.version))
      .map((c) =>
        savedEventFor({
          blob: { leadId, ...c },
          metadata,
          savedAt: recoverSavedAt(c.version, pointer),
        }),
      );
    report.historyEntries += history.length;
    if (dryRun) {
      report.rebuilt++;
      return;
    }

    let failed = false;
    const deliver = async (name: ConsumerName, handler: EventHandler, e: typeof event) => {
      let outcome: HandlerOutcome;
      try {
        outcome = await handler(e, { subscription: name, messageId: `reindex:${e.id}`, deliveryCount: 1 });
      } catch (err) {
        outcome = { kind: 'retry', reason: err instanceof Error ? err.name : 'error' };
      }
      if (outcome.kind === 'done' || outcome.kind === 'skip') {
        if (e === event) report.outcomes[name][outcome.kind]++;
        return;
      }
      failed = true;
      report.failures.count++;
      if (report.failures.sample.length < REPORT_SAMPLE) {
        report.failures.sample.push({
          leadId,
          subscription: name,
          reason: `${outcome.kind}: ${outcome.reason}`,
        });
      }
    };
    for (const [name, handler] of handlers) await deliver(name, handler, event);
    const writer = handlers.find(([name]) => name === 'writer');
    if (writer) for (const e of history) await deliver('writer', writer[1], e);
    if (!failed) report.rebuilt++;
  }
}

function push(target: { count: number; sample: BlobProblem[] }, problem: BlobProblem): void {
  target.count++;
  if (target.sample.length < REPORT_SAMPLE) target.sample.push(problem);
}
