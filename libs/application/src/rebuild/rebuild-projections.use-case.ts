import { createHash } from 'node:crypto';
import {
  contentPath,
  CONTENT_PREFIX,
  deriveTier,
  isVersion,
  metadataPath,
  parseLeadId,
  Tier,
  TierThresholds,
} from '@twinstore/domain';
import { ConsumerName } from '../handlers/consumers';
import {
  ActivityStore,
  BlobTier,
  BlobTiering,
  BundleLocation,
  Clock,
  ContentStore,
  EventHandler,
  HandlerOutcome,
  TierLedger,
} from '../ports';
import { decodeBundleLocated } from '../tiering/bundle-format';
import {
  BundleManifest,
  MANIFEST_FORMAT,
  manifestEntriesOf,
  readManifest,
  writeManifest,
} from '../tiering/bundle-manifest';
import { BUNDLE_PREFIX, bundleName, ERASURE_PREFIX, rebuildStagingPath } from '../tiering/tier-lifecycle';
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
  /**
   * The placement ledger (the activity store). With it and the `tiering` handler, each twin's placement is
   * restored from where its data is: the day-blob's access tier (Hot: hot, Cool: warm), or cold with its
   * bundle location; and every bundle holding dead entries of the twin is recorded as retired (erasure).
   */
  ledger?: TierLedger & Pick<ActivityStore, 'get' | 'recordAccess'>;
  /**
   * The lifecycle's thresholds. With them, a twin found in the Hot tier although its last write says it would
   * have left it was read recently (reads promote, and rehydration restores to Hot): the rebuild records an
   * access at its own time, since the blob store keeps no access times, so the next sweep does not send a
   * twin just read (or just rehydrated, at the price of an Archive read) straight back to Cool or Archive.
   */
  thresholds?: TierThresholds;
  clock: Clock;
}

export interface RebuildProgress {
  phase: 'scan' | 'rebuild';
  /** Day-blobs listed so far. */
  blobs: number;
  /** Bundle manifests read so far. */
  bundles: number;
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
  /** Cold twins: the bundles (`tiering/bundles/`), read through their sidecar manifests. */
  bundles: {
    /** Bundle blobs listed. */
    listed: number;
    /** Entries their manifests list (dead ones included). */
    entries: number;
    /** Leads whose newest version is in a bundle, rebuilt from its manifest (counted in `rebuilt` too). */
    cold: number;
    /** Bundles without a manifest, read through a rehydrated copy, whose manifest was written now. */
    backfilled: number;
    /** Bundles that could not be read (their twins are missing from the rebuild): rerun later. */
    unread: { count: number; sample: BlobProblem[] };
  };
  failures: { count: number; sample: { leadId: string; subscription: string; reason: string }[] };
  /** Placements recorded in the ledger, by tier (none without ledger and tiering handler, or on a dry run). */
  placements: Record<Tier, number>;
  /** Bundles recorded as retired (holding dead entries of a twin: DELETE rewrites them). */
  retired: number;
  /** Hot twins whose last write is past the warm threshold: an access recorded at the rebuild's time. */
  accessAssumed: number;
  elapsedMs: number;
  /** Leads per second over the whole run (scan included). */
  twinsPerSecond: number;
}

/** Candidate versions of a lead: compact, since the scan holds one per day-blob and bundle entry. */
type Candidate = Omit<DayBlob, 'leadId'> & {
  /** A bundle entry: index of its bundle in the scan's list, and the content's byte range. */
  bundle?: number;
  offset?: number;
  length?: number;
};

/** A lead whose newest version is in a bundle: rebuilt bundle by bundle (one manifest in memory at a time). */
interface ColdLead {
  leadId: string;
  candidates: Candidate[];
  index: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const TIER_OF_BLOB: Record<BlobTier, Tier> = { hot: 'hot', cool: 'warm', archive: 'cold' };

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
      bundles: { listed: 0, entries: 0, cold: 0, backfilled: 0, unread: { count: 0, sample: [] } },
      failures: { count: 0, sample: [] },
      placements: { hot: 0, warm: 0, cold: 0 },
      retired: 0,
      accessAssumed: 0,
      elapsedMs: 0,
      twinsPerSecond: 0,
    };
    const run: Run = { handlers, dryRun, report };
    const progress = (phase: RebuildProgress['phase'], done: number) =>
      options.onProgress?.({
        phase,
        blobs: report.blobs,
        bundles: report.bundles.listed,
        leads: report.leads,
        done,
        failed: report.failures.count + report.unreadable.count,
      });

    // 1. Scan: every content day-blob and every bundle entry (from its manifest), grouped by lead.
    const byLead = new Map<string, Candidate[]>();
    const add = (leadId: string, candidate: Candidate) => {
      const list = byLead.get(leadId);
      if (list) list.push(candidate);
      else byLead.set(leadId, [candidate]);
    };
    for await (const props of this.deps.content.list(CONTENT_PREFIX)) {
      const blob = dayBlobOf(props);
      if (blob === null) continue;
      if (isBlobProblem(blob)) {
        push(report.invalid, blob);
        continue;
      }
      report.blobs++;
      const { leadId, ...candidate } = blob;
      add(leadId, candidate);
      if (report.blobs % 1000 === 0) progress('scan', 0);
    }
    const bundles: string[] = [];
    for await (const props of this.deps.content.list(BUNDLE_PREFIX)) {
      report.bundles.listed++;
      const index = bundles.push(props.path) - 1;
      const manifest = await this.manifestOf(props.path, run);
      if (!manifest) continue;
      for (const e of manifest.entries) {
        const candidate = candidateOf(e, index);
        if (!candidate) {
          push(report.invalid, {
            path: `${props.path}#${String(e.leadId)}`,
            reason: 'manifest entry does not hold up',
          });
          continue;
        }
        report.bundles.entries++;
        add(e.leadId, candidate);
      }
      progress('scan', 0);
    }
    report.leads = byLead.size;
    progress('scan', 0);

    // 2. Rebuild, lead by lead, a bounded number at once; leads whose newest version is cold wait for 3.
    let done = 0;
    const cold = new Map<number, ColdLead[]>();
    await mapBounded([...byLead.keys()], concurrency, async (leadId) => {
      const candidates = byLead.get(leadId)!.sort(newestFirst);
      byLead.delete(leadId);
      const deferred = await this.rebuildLead(leadId, candidates, bundles, run);
      if (deferred) {
        const list = cold.get(deferred.candidates[deferred.index].bundle!);
        if (list) list.push(deferred);
        else cold.set(deferred.candidates[deferred.index].bundle!, [deferred]);
        return;
      }
      done++;
      if (done % 100 === 0 || done === report.leads) progress('rebuild', done);
    });

    // 3. Cold twins, bundle by bundle: the manifest gives the text, metadata and location.
    for (const [index, leads] of cold) {
      const bundle = bundles[index];
      const manifest = (await readManifest(this.deps.content, bundle).catch(() => null))?.manifest;
      const entries = new Map((manifest?.entries ?? []).map((e) => [`${e.leadId}@${e.version}`, e]));
      await mapBounded(leads, concurrency, async ({ leadId, candidates, index: at }) => {
        const chosen = candidates[at];
        const entry = entries.get(`${leadId}@${chosen.version}`);
        if (!entry) {
          // Erased (or its bundle rewritten) since the scan.
          report.unreadable.count++;
          if (report.unreadable.sample.length < REPORT_SAMPLE) report.unreadable.sample.push(leadId);
        } else {
          const body = Buffer.from(entry.markdown, 'utf8');
          const intact = createHash('sha256').update(body).digest('hex') === chosen.sha256;
          if (!intact) {
            push(report.corrupt, {
              path: `${bundle}#${leadId}`,
              reason: 'manifest text does not match its sha256',
            });
          }
          const location: BundleLocation = { bundle, offset: chosen.offset!, length: chosen.length! };
          await this.project(
            leadId,
            candidates,
            at,
            { body: intact ? body : null, location, manifest: entry },
            bundles,
            run,
          );
          report.bundles.cold++;
        }
        done++;
        if (done % 100 === 0 || done === report.leads) progress('rebuild', done);
      });
    }
    progress('rebuild', done);

    report.elapsedMs = performance.now() - started;
    report.twinsPerSecond = report.elapsedMs > 0 ? (report.leads * 1000) / report.elapsedMs : 0;
    return report;
  }

  /**
   * A bundle's manifest; without one (a bundle written before manifests, or a lost manifest), the bundle is
   * read through a rehydrated copy (the lifecycle's own copy path: instant on the embedded store and Azurite,
   * hours on Azure) and its manifest is written now. While the copy is pending, the bundle is reported unread,
   * and the pending copy holds it against compaction (its twins are not in the ledger yet).
   */
  private async manifestOf(bundle: string, run: Run): Promise<BundleManifest | null> {
    const unread = (reason: string) => {
      push(run.report.bundles.unread, { path: bundle, reason });
      return null;
    };
    try {
      const found = await readManifest(this.deps.content, bundle);
      if (found) return found.manifest;
    } catch (e) {
      // An unreadable manifest is replaced from the bundle, like a missing one.
      if (!(e instanceof Error)) throw e;
    }
    const content = this.deps.content as ContentStore & Partial<BlobTiering>;
    if (typeof content.startRehydration !== 'function' || typeof content.setTier !== 'function') {
      return unread('no manifest, and the store cannot copy the bundle');
    }
    if (run.dryRun) return unread('no manifest (a dry run does not copy the bundle)');
    const tiering = content as ContentStore & BlobTiering;
    const staging = rebuildStagingPath(bundle);
    const state = await tiering.startRehydration(bundle, staging, 'standard');
    if (state === 'pending')
      return unread('no manifest; its rehydrated copy is pending: run reindex again later');
    if (state !== 'completed') return unread(`no manifest; copying the bundle ${state}`);
    const copy = await content.get(staging);
    if (!copy) return unread('no manifest; its rehydrated copy vanished');
    let manifest: BundleManifest;
    try {
      let entries = decodeBundleLocated(bundle, copy.body);
      if (await content.head(`${ERASURE_PREFIX}${bundleName(bundle)}`)) {
        // An erasure of this bundle is pending: its bytes may still hold an erased twin, whose pointer DELETE
        // removed. Only twins that still have a pointer are taken from it.
        const kept = await mapBounded(
          entries,
          16,
          async (e) => (await content.head(metadataPath(e.entry.leadId))) !== null,
        );
        entries = entries.filter((_, i) => kept[i]);
      }
      manifest = { format: MANIFEST_FORMAT, bundle, entries: await manifestEntriesOf(content, entries) };
    } catch {
      await content.delete(staging);
      return unread('no manifest, and the bundle does not decode');
    }
    await writeManifest(tiering, manifest, {});
    run.report.bundles.backfilled++;
    await content.delete(staging);
    return manifest;
  }

  /** Chooses the lead's newest readable version and projects it; a cold one is returned to be done later. */
  private async rebuildLead(
    leadId: string,
    candidates: Candidate[],
    bundles: string[],
    run: Run,
  ): Promise<ColdLead | null> {
    const { report } = run;
    // The newest version whose bytes hold up; newer corrupt ones are reported and passed over.
    for (const [index, candidate] of candidates.entries()) {
      if (candidate.bundle !== undefined) return { leadId, candidates, index };
      const read = await readDayBlob(this.deps.content, { leadId, ...candidate });
      if (read.kind === 'gone') continue;
      if (read.kind === 'corrupt') {
        push(report.corrupt, read.problem);
        continue;
      }
      if (read.kind === 'archived') report.archived++;
      candidates[index] = { ...candidate, tier: read.blob.tier };
      await this.project(
        leadId,
        candidates,
        index,
        { body: read.kind === 'ok' ? read.body : null },
        bundles,
        run,
      );
      return null;
    }
    report.unreadable.count++;
    if (report.unreadable.sample.length < REPORT_SAMPLE) report.unreadable.sample.push(leadId);
    return null;
  }

  /** Delivers the chosen version (and the history the pointer misses), then restores the placement. */
  private async project(
    leadId: string,
    candidates: Candidate[],
    index: number,
    found: {
      body: Buffer | null;
      /** Cold: where the bytes are, and the manifest entry. */
      location?: BundleLocation;
      manifest?: { metadata?: unknown; savedAt?: string };
    },
    bundles: string[],
    run: Run,
  ): Promise<void> {
    const { handlers, dryRun, report } = run;
    const chosen = candidates[index];
    const blob: DayBlob = {
      leadId,
      version: chosen.version,
      path: chosen.path,
      sha256: chosen.sha256,
      size: chosen.size,
      tier: chosen.tier,
    };
    const { body } = found;
    const pointer = await readPointerLeniently(this.deps.content, leadId);
    const { metadata, source } = recoverMetadata(blob.version, body, pointer, found.manifest?.metadata);
    report.metadata[source]++;
    if (!isRecoveredExactly(source) && report.unrecoveredMetadata.length < REPORT_SAMPLE) {
      report.unrecoveredMetadata.push(leadId);
    }
    const event = savedEventFor({
      blob,
      metadata,
      savedAt: recoverSavedAt(blob.version, pointer, found.manifest?.savedAt),
      // Delivered in-process, so inline whatever the size: the handlers need not read the blob again.
      ...(body ? { markdown: body.toString('utf8') } : {}),
    });

    // Older versions (the lead's history) missing from the pointer: only the writer keeps history.
    const known = new Set<string>(pointer?.history.map((h) => h.version) ?? []);
    const history = olderVersions(candidates, index)
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
    const fail = (name: string, reason: string) => {
      failed = true;
      report.failures.count++;
      if (report.failures.sample.length < REPORT_SAMPLE) {
        report.failures.sample.push({ leadId, subscription: name, reason });
      }
    };
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
      fail(name, `${outcome.kind}: ${outcome.reason}`);
    };
    for (const [name, handler] of handlers) {
      // A cold twin's text that does not hold up is not indexed (its bytes are still in the bundle).
      if (name === 'indexer' && found.location && !body) fail(name, 'no verified text in the manifest');
      else await deliver(name, handler, event);
    }
    const writer = handlers.find(([name]) => name === 'writer');
    if (writer) for (const e of history) await deliver('writer', writer[1], e);
    if (!failed) report.rebuilt++;

    // Placement: where the data is. Every other bundle with an entry of the lead holds dead bytes of it.
    const held = new Set(candidates.filter((c) => c.bundle !== undefined).map((c) => bundles[c.bundle!]));
    if (found.location) held.delete(found.location.bundle);
    await this.place(leadId, blob, found.location, [...held], run);
  }

  private async place(
    leadId: string,
    blob: DayBlob,
    location: BundleLocation | undefined,
    retired: string[],
    run: Run,
  ): Promise<void> {
    const { ledger, handlers } = this.deps;
    if (!ledger || !handlers.tiering || run.dryRun) return;
    const tier: Tier = location ? 'cold' : TIER_OF_BLOB[blob.tier];
    const placed = await ledger.locate(leadId);
    if (!placed || placed.version !== blob.version) return; // gone, or a newer write since the scan
    // Cold at this version while its day-blob exists: the lifecycle is between recording the bundle and
    // deleting the day-blob, or a rehydration between restoring it and recording hot. It finishes either.
    if (!location && placed.tier === 'cold' && placed.location) {
      run.report.placements.cold++;
      return;
    }
    const retire = retired.filter((b) => !placed.retired?.includes(b) && b !== placed.location?.bundle);
    const same =
      placed.tier === tier &&
      placed.location?.bundle === location?.bundle &&
      placed.location?.offset === location?.offset &&
      placed.location?.length === location?.length;
    if (same && retire.length === 0) {
      run.report.placements[tier]++;
    } else if ((await ledger.setPlacement(leadId, blob.version, tier, location, retire)) === 'applied') {
      run.report.placements[tier]++;
      run.report.retired += retire.length;
    } else return;
    if (tier !== 'hot' || !this.deps.thresholds) return;
    const activity = await ledger.get(leadId);
    if (!activity) return;
    const last = Math.max(Date.parse(activity.lastWriteAt), Date.parse(activity.lastAccessAt ?? '') || 0);
    const now = this.deps.clock.now();
    if (deriveTier(new Date(last), now, this.deps.thresholds) !== 'hot') {
      await ledger.recordAccess(leadId, now);
      run.report.accessAssumed++;
    }
  }
}

interface Run {
  handlers: [ConsumerName, EventHandler][];
  dryRun: boolean;
  report: RebuildReport;
}

/** Newest version first; of the same version, the day-blob (readable) before a bundle entry. */
function newestFirst(a: Candidate, b: Candidate): number {
  if (a.version !== b.version) return a.version < b.version ? 1 : -1;
  return (a.bundle === undefined ? 0 : 1) - (b.bundle === undefined ? 0 : 1);
}

/** The versions older than `candidates[index]`, one each (a version may be both a day-blob and an entry). */
function olderVersions(candidates: Candidate[], index: number): Candidate[] {
  const seen = new Set<string>([candidates[index].version]);
  return candidates.slice(index + 1).filter((c) => !seen.has(c.version) && seen.add(c.version));
}

/** A manifest entry as a candidate, or null when it does not hold up (never projected). */
function candidateOf(e: BundleManifest['entries'][number], bundle: number): Candidate | null {
  try {
    parseLeadId(e.leadId);
  } catch {
    return null;
  }
  if (!isVersion(e.version) || typeof e.sha256 !== 'string' || !SHA256.test(e.sha256)) return null;
  if (![e.offset, e.length].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  if (typeof e.markdown !== 'string') return null;
  return {
    version: e.version,
    path: contentPath(e.leadId, e.version),
    sha256: e.sha256,
    size: e.length,
    tier: 'archive',
    bundle,
    offset: e.offset,
    length: e.length,
  };
}

function push(target: { count: number; sample: BlobProblem[] }, problem: BlobProblem): void {
  target.count++;
  if (target.sample.length < REPORT_SAMPLE) target.sample.push(problem);
}
