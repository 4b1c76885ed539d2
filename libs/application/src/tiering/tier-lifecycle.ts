import { randomUUID } from 'node:crypto';
import { createEvent, TwinEvent } from '@twinstore/contracts';
import { contentPath, Tier, TierThresholds, Version } from '@twinstore/domain';
import {
  ActivityStore,
  BlobTier,
  BlobTiering,
  BundleLocation,
  Clock,
  ContentStore,
  EventPublisher,
  LeaseLock,
  PreconditionFailedError,
  RehydratePriority,
  TierCandidate,
  TierLedger,
} from '../ports';
import {
  BUNDLE_CONTENT_TYPE,
  BUNDLE_FORMAT,
  BundleEntry,
  encodeBundle,
  readBundleEntry,
} from './bundle-format';
import {
  bundleOfManifest,
  eraseFromManifest,
  MANIFEST_FORMAT,
  MANIFEST_PREFIX,
  ManifestEntry,
  manifestEntriesOf,
  manifestPath,
  readManifest,
  writeManifest,
} from './bundle-manifest';

export type TieredContentStore = ContentStore & BlobTiering;
export type TieringActivity = ActivityStore & TierLedger;

export interface TierLifecycleOptions {
  thresholds: TierThresholds;
  /** Twins moved per round of a sweep (and at most per bundle). */
  batchSize: number;
  /** Twins packed into one bundle blob. */
  bundleMaxTwins: number;
  /** A bundle is rewritten without its dead entries when they are at least this share (0-1) of it. */
  compactDeadRatio: number;
  /** Rehydrate priority of the copies that compaction and rehydration start (Azure). */
  rehydratePriority: RehydratePriority;
  /** Lease time of one sweep (renewed between rounds). */
  leaseSeconds: number;
}

export interface SweepResult {
  moved: Record<`${Tier}->${Tier}`, number>;
  bundles: number;
  compacted: number;
  /** Bundles deleted because no live twin was left in them. */
  emptied: number;
}

export const BUNDLE_PREFIX = 'tiering/bundles/';
export const ERASURE_PREFIX = 'tiering/erasures/';
export const STAGING_PREFIX = 'tiering/staging/';
export const SWEEP_LEASE = 'tiering-sweep';
const BLOB_TIER_OF: Record<Tier, BlobTier> = { hot: 'hot', warm: 'cool', cold: 'archive' };
const MAX_ROUNDS = 10_000;

/**
 * The tier lifecycle: hot (catalog, Hot blob) -> warm (Cool blob) after `warmAfterDays` without write or
 * read, -> cold (packed into an Archive bundle with an offset index in the activity store) after
 * `coldAfterDays`; warm twins that are read or written go back to hot (cold ones through rehydration or a
 * write). Data moves first, then the placement is recorded conditional on the version moved, so a write
 * racing a move always wins, and a crash between the two is repaired by the next sweep (idempotent).
 */
export class TierLifecycle {
  constructor(
    private readonly content: TieredContentStore,
    private readonly activity: TieringActivity,
    private readonly publisher: EventPublisher,
    private readonly clock: Clock,
    private readonly lease: LeaseLock,
    private readonly options: TierLifecycleOptions,
  ) {}

  /** The placement ledger (the activity store) this lifecycle records moves in. */
  get ledger(): TierLedger {
    return this.activity;
  }

  /** One sweep under the lease; null when another replica holds it. */
  async sweep(): Promise<SweepResult | null> {
    const held = await this.lease.tryAcquire(SWEEP_LEASE, this.options.leaseSeconds);
    if (!held) return null;
    try {
      const now = this.clock.now();
      const result: SweepResult = { moved: {} as SweepResult['moved'], bundles: 0, compacted: 0, emptied: 0 };
      const seen = new Set<string>();
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const candidates = (
          await this.activity.tierCandidates(now, this.options.thresholds, this.options.batchSize + seen.size)
        ).filter((c) => !seen.has(`${c.leadId}@${c.version}`));
        if (candidates.length === 0) break;
        for (const c of candidates) seen.add(`${c.leadId}@${c.version}`);
        const online = candidates.filter((c) => c.to !== 'cold');
        const cold = candidates.filter((c) => c.to === 'cold');
        for (const c of online) if (await this.moveOnline(c, now)) count(result, c);
        for (let i = 0; i < cold.length; i += this.options.bundleMaxTwins) {
          const moved = await this.bundle(cold.slice(i, i + this.options.bundleMaxTwins), now);
          if (moved.length > 0) result.bundles++;
          for (const c of moved) count(result, c);
        }
        if (!(await held.renew())) return result;
      }
      const compaction = await this.compact();
      result.compacted = compaction.compacted;
      result.emptied = compaction.emptied;
      return result;
    } finally {
      await held.release().catch(() => undefined);
    }
  }

  /** Event-driven promotion: a warm twin that was read or written goes back to the Hot blob tier. */
  async promote(leadId: string): Promise<boolean> {
    const placed = await this.activity.locate(leadId);
    if (!placed || placed.tier !== 'warm') return false;
    return this.moveOnline({ leadId, version: placed.version, from: 'warm', to: 'hot' }, this.clock.now());
  }

  /** hot <-> warm: the blob changes access tier in place (no copy, no rewrite). */
  private async moveOnline(c: TierCandidate, now: Date): Promise<boolean> {
    const path = contentPath(c.leadId, c.version);
    const head = await this.content.head(path);
    // A same-day newer write owns the day-blob now; its own placement is hot already.
    if (head && head.metadata.version === c.version) await this.content.setTier(path, BLOB_TIER_OF[c.to]);
    if ((await this.activity.setPlacement(c.leadId, c.version, c.to)) !== 'applied') return false;
    await this.publish([tierChanged(c, now)]);
    return true;
  }

  /**
   * warm (or hot) -> cold: the versions' bytes are packed into one new bundle blob, which goes to Archive;
   * the offset index is recorded per twin (conditional on the version), then the day-blobs are deleted.
   * A twin written meanwhile keeps its new version hot and its entry in the bundle is dead from the start.
   */
  private async bundle(candidates: TierCandidate[], now: Date): Promise<TierCandidate[]> {
    const entries: { c: TierCandidate; entry: BundleEntry; etag: string }[] = [];
    for (const c of candidates) {
      const path = contentPath(c.leadId, c.version);
      const blob = await this.content.get(path).catch(() => null);
      if (!blob || blob.properties.metadata.version !== c.version) {
        // Nothing left to move (erased, or replaced by a newer write): only the bookkeeping follows.
        await this.activity.setPlacement(c.leadId, c.version, 'cold');
        continue;
      }
      entries.push({
        c,
        etag: blob.properties.etag,
        entry: {
          leadId: c.leadId,
          version: c.version,
          contentType: blob.properties.contentType,
          metadata: blob.properties.metadata,
          body: blob.body,
        },
      });
    }
    if (entries.length === 0) return [];
    const bundle = bundlePath(now);
    const { body, locations } = encodeBundle(
      bundle,
      entries.map((e) => e.entry),
    );
    await this.content.put(bundle, body, {
      contentType: BUNDLE_CONTENT_TYPE,
      metadata: { format: BUNDLE_FORMAT, entries: String(entries.length) },
      ifNoneMatch: '*',
    });
    await this.content.setTier(bundle, 'archive');
    // The sidecar manifest (Cool, readable without rehydration) before any placement points at the bundle.
    await writeManifest(this.content, {
      format: MANIFEST_FORMAT,
      bundle,
      entries: await manifestEntriesOf(
        this.content,
        entries.map((e, i) => ({ entry: e.entry, location: locations[i] })),
      ),
    });
    const moved: TierCandidate[] = [];
    const events: TwinEvent[] = [];
    for (const [i, { c, etag }] of entries.entries()) {
      if ((await this.activity.setPlacement(c.leadId, c.version, 'cold', locations[i])) !== 'applied')
        continue;
      await this.content.delete(contentPath(c.leadId, c.version), { ifMatch: etag }).catch((e: unknown) => {
        if (!(e instanceof PreconditionFailedError)) throw e;
      });
      moved.push(c);
      events.push(tierChanged({ ...c, to: 'cold' }, now));
    }
    await this.publish(events);
    return moved;
  }

  /**
   * Erasure of a bundled twin (DELETE): its index entry goes at once (it is unreadable from then on), and the
   * bundle is rewritten without its bytes. The rewrite needs the bundle's bytes, which on Azure means a
   * rehydrated copy: when that copy is still pending, an erasure marker makes every sweep retry until done.
   */
  async eraseFromBundle(leadId: string): Promise<'erased' | 'pending' | 'not-bundled'> {
    const placed = await this.activity.locate(leadId);
    // Its current bundle and every bundle that still holds a dead entry of it (rehydrated, superseded).
    const held = [
      ...new Set([...(placed?.location ? [placed.location.bundle] : []), ...(placed?.retired ?? [])]),
    ];
    if (!placed || held.length === 0) return 'not-bundled';
    for (const bundle of held) {
      await this.content.put(erasureMarker(bundle), Buffer.from(bundle), { contentType: 'text/plain' });
    }
    if (placed.location) await this.activity.setPlacement(leadId, placed.version, placed.tier);
    // The manifests are online: their copy of the twin (metadata, text) goes now, whatever the bundles wait for.
    for (const bundle of held) await eraseFromManifest(this.content, bundle, leadId);
    let pending = false;
    for (const bundle of held) if (!(await this.rewrite(bundle))) pending = true;
    return pending ? 'pending' : 'erased';
  }

  /** Rewrites bundles with erasures pending or a large dead share; deletes bundles with nothing live. */
  async compact(): Promise<{ compacted: number; emptied: number }> {
    let compacted = 0;
    let emptied = 0;
    // Erasures first: they are not optional, whatever the dead share.
    const marked: string[] = [];
    for await (const m of this.content.list(ERASURE_PREFIX)) {
      const blob = await this.content.get(m.path);
      if (blob) marked.push(blob.body.toString('utf8'));
    }
    const done = new Set<string>();
    for (const bundle of marked) {
      if (await this.rewrite(bundle)) {
        compacted++;
        done.add(bundle);
      }
    }
    const liveCounts = await this.activity.bundleLiveCounts();
    const listed = new Set<string>();
    for await (const b of this.content.list(BUNDLE_PREFIX)) {
      listed.add(b.path);
      if (done.has(b.path)) continue;
      const total = Number(b.metadata.entries ?? '0');
      const live = liveCounts.get(b.path) ?? 0;
      if (live === 0) {
        // A rebuild that could not read this bundle yet (its copy is pending) holds it: its twins are unknown.
        if (await this.content.head(rebuildStagingPath(b.path))) continue;
        await this.dropBundle(b.path);
        emptied++;
        continue;
      }
      const dead = Math.max(0, total - live);
      if (marked.includes(b.path) || (total > 0 && dead / total >= this.options.compactDeadRatio)) {
        if (await this.rewrite(b.path)) compacted++;
      }
    }
    // Manifests left behind by a crash between the two deletes of dropBundle (bundle first, then manifest).
    const orphans: string[] = [];
    for await (const m of this.content.list(MANIFEST_PREFIX)) {
      const bundle = bundleOfManifest(m.path);
      if (bundle && !listed.has(bundle) && !done.has(bundle)) orphans.push(m.path);
    }
    for (const path of orphans) {
      // A bundle written since the listing (an erasure's rewrite runs outside the lease) keeps its manifest.
      const bundle = bundleOfManifest(path)!;
      if (!(await this.content.head(bundle))) await this.content.delete(path);
    }
    return { compacted, emptied };
  }

  /**
   * A new bundle holding only the live entries of `bundle`, then the old one (and every staged copy of it)
   * deleted. False while the old bundle's rehydrated copy is still pending (Azure).
   */
  private async rewrite(bundle: string): Promise<boolean> {
    if ((await this.activity.bundleMembers(bundle)).length === 0) {
      if (await this.content.head(rebuildStagingPath(bundle))) return false; // held by a rebuild
      // Nothing live: no copy needed, the bundle simply goes.
      await this.dropBundle(bundle);
      return true;
    }
    const staging = `${STAGING_PREFIX}${bundleName(bundle)}/compaction`;
    const state = await this.content.startRehydration(bundle, staging, this.options.rehydratePriority);
    if (state === 'pending') return false;
    if (state !== 'completed') {
      if (state === 'missing') await this.dropBundle(bundle);
      return state === 'missing';
    }
    const copy = await this.content.get(staging);
    if (!copy) return false;
    const live = await this.activity.bundleMembers(bundle);
    if (live.length > 0) {
      const now = this.clock.now();
      const entries = live.map((m) => readBundleEntry(copy.body, m.location));
      const next = bundlePath(now);
      const { body, locations } = encodeBundle(next, entries);
      await this.content.put(next, body, {
        contentType: BUNDLE_CONTENT_TYPE,
        metadata: { format: BUNDLE_FORMAT, entries: String(entries.length) },
        ifNoneMatch: '*',
      });
      await this.content.setTier(next, 'archive');
      // The new bundle's manifest keeps what the old one knew of each twin (metadata, savedAt).
      const known = new Map<string, ManifestEntry>();
      const old = await readManifest(this.content, bundle).catch(() => null);
      for (const e of old?.manifest.entries ?? []) known.set(`${e.leadId}@${e.version}`, e);
      await writeManifest(this.content, {
        format: MANIFEST_FORMAT,
        bundle: next,
        entries: await manifestEntriesOf(
          this.content,
          entries.map((e, i) => {
            const k = known.get(`${e.leadId}@${e.version}`);
            return {
              entry: e,
              location: locations[i],
              ...(k ? { known: { metadata: k.metadata, savedAt: k.savedAt } } : {}),
            };
          }),
        ),
      });
      for (const [i, m] of live.entries()) {
        await this.activity.setPlacement(m.leadId, m.version, 'cold', locations[i]);
      }
    }
    await this.dropBundle(bundle);
    return true;
  }

  /** Deletes a bundle, its staged (rehydrated) copies and its erasure marker: none of its bytes remain. */
  private async dropBundle(bundle: string): Promise<void> {
    await this.content.delete(bundle);
    await this.content.delete(manifestPath(bundle));
    const staged: string[] = [];
    for await (const s of this.content.list(`${STAGING_PREFIX}${bundleName(bundle)}/`)) staged.push(s.path);
    for (const path of staged) await this.content.delete(path);
    await this.content.delete(erasureMarker(bundle));
  }

  private async publish(events: TwinEvent[]): Promise<void> {
    if (events.length > 0) await this.publisher.publish(events);
  }
}

/** `tiering/bundles/{yyyy}/{mm}/{dd}/{id}.bundle` (the date of the sweep that wrote it). */
export function bundlePath(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${BUNDLE_PREFIX}${now.getUTCFullYear()}/${pad(now.getUTCMonth() + 1)}/${pad(now.getUTCDate())}/${randomUUID()}.bundle`;
}

/** A bundle's file name, unique (its id): names its staging folder and erasure marker. */
export function bundleName(bundle: string): string {
  return bundle.slice(bundle.lastIndexOf('/') + 1);
}

/**
 * The staged copy a rebuild starts of a bundle it has no manifest for. While it exists (pending on Azure),
 * compaction does not drop the bundle: the ledger does not know its twins yet.
 */
export function rebuildStagingPath(bundle: string): string {
  return `${STAGING_PREFIX}${bundleName(bundle)}/rebuild`;
}

function erasureMarker(bundle: string): string {
  return `${ERASURE_PREFIX}${bundleName(bundle)}`;
}

export function tierChanged(
  c: { leadId: string; version: Version; from: Tier; to: Tier },
  at: Date,
): TwinEvent {
  return createEvent(
    'twin.tier-changed.v1',
    { leadId: c.leadId, version: c.version, from: c.from, to: c.to, at: at.toISOString() },
    { time: at },
  );
}

function count(result: SweepResult, c: TierCandidate): void {
  const key = `${c.from}->${c.to}` as const;
  result.moved[key] = (result.moved[key] ?? 0) + 1;
}

export type { BundleLocation };
