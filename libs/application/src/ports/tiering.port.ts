import { Tier, TierThresholds, Version } from '@twinstore/domain';
import { ApplyResult } from './catalog.port';
import { BlobTier } from './content-store.port';

/** Where a cold twin's bytes are: a byte range of a bundle blob (the offset index, kept warm). */
export interface BundleLocation {
  bundle: string;
  offset: number;
  length: number;
}

/** Where a twin's current version is placed. */
export interface TierPlacement {
  version: Version;
  tier: Tier;
  /** Cold and bundled: the bundle and byte range. */
  location?: BundleLocation;
  /**
   * Bundles that held earlier placements of the twin (rehydrated, rewritten or superseded by a write): their
   * entries of it are dead but their bytes remain until the bundle is rewritten, so erasure rewrites them.
   */
  retired?: string[];
}

/** A twin whose tier at `now` differs from the tier its data is placed in. */
export interface TierCandidate {
  leadId: string;
  version: Version;
  from: Tier;
  to: Tier;
}

/**
 * Placement bookkeeping of the tier lifecycle, implemented by the activity store's backends. The stored tier is
 * where the data is (catalog + Hot blob, Cool blob, Archive bundle); the lifecycle moves the data first and
 * then records the placement, conditional on the version it moved (a newer write wins and stays hot).
 */
export interface TierLedger {
  /** Up to `limit` twins whose tier at `now` differs from their placement. */
  tierCandidates(now: Date, thresholds: TierThresholds, limit: number): Promise<TierCandidate[]>;
  /**
   * Records that `version` of the twin is now placed in `tier` (with its bundle location when cold; none
   * otherwise). Stale when the twin is gone or at another version. A bundle left behind joins `retired`.
   * A write (recordWrite of a newer version) clears the location the same way. `retire` adds bundles to
   * `retired` as well (a rebuild restoring the bundles that hold dead entries of the twin).
   */
  setPlacement(
    leadId: string,
    version: Version,
    tier: Tier,
    location?: BundleLocation,
    retire?: readonly string[],
  ): Promise<ApplyResult>;
  /** The live twins whose bytes are in `bundle`. */
  bundleMembers(bundle: string): Promise<{ leadId: string; version: Version; location: BundleLocation }[]>;
  /** Live entries per bundle, for every bundle that has any (one pass: compaction's dead-share check). */
  bundleLiveCounts(): Promise<Map<string, number>>;
  /** The placement of a live twin (null when unknown or deleted). */
  locate(leadId: string): Promise<TierPlacement | null>;
}

export type RehydratePriority = 'standard' | 'high';
export type CopyState = 'pending' | 'completed' | 'failed' | 'missing';

/**
 * Access tiers and copy-based rehydration of blobs. On Azure a blob in Archive cannot be read; it is
 * rehydrated by copying it to a new blob in the Hot tier (hours at standard priority, under one hour at
 * high), so lifecycle rules never re-archive the original. The embedded store completes the copy at once.
 */
export interface BlobTiering {
  /** Moves a blob to another access tier; false if there is no blob. */
  setTier(path: string, tier: BlobTier): Promise<boolean>;
  /** Starts copying `source` (any tier, Archive included) to a new Hot blob at `target`. Idempotent per target. */
  startRehydration(source: string, target: string, priority: RehydratePriority): Promise<CopyState>;
  /** The state of the copy that created `target`. */
  rehydrationState(target: string): Promise<CopyState>;
}

/** A held lease; `release` gives it up early (it also expires on its own). */
export interface HeldLease {
  release(): Promise<void>;
  /** Extends the lease (long sweeps); false if it was lost. */
  renew(): Promise<boolean>;
}

/**
 * A named mutual-exclusion lease with expiry, shared by every replica (SQLite row on the embedded profile, a
 * blob lease on Azure): two tiering replicas never sweep at the same time, and a crashed holder's lease ends.
 */
export interface LeaseLock {
  tryAcquire(name: string, ttlSeconds: number): Promise<HeldLease | null>;
}
