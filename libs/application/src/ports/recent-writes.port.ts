import { TwinRecord, Version } from '@twinstore/domain';

/**
 * Read-your-writes without waiting for the projections: the ingest API notes every accepted version here
 * before it answers 202, and reads consult it, so a GET right after a 202 answers that version (or a newer one)
 * even while the writer lags. Entries only need to outlive the projection lag: adapters keep them for a
 * bounded time (`horizonMs`) and may forget older ones; the store stays bounded by the write rate, never by the
 * number of twins.
 *
 * A lead's entry is either its newest noted record or its deletion (from `forget`); both only ever move to a
 * newer version, so a save whose `note` arrives after a DELETE of a newer version cannot bring the lead back.
 */
export interface RecentWrites {
  /** Durable once resolved, for at least the horizon. A newer version of a lead replaces an older one only. */
  note(records: readonly TwinRecord[]): Promise<void>;
  /** The newest noted record of the lead still within the horizon, or null (never noted, expired, deleted). */
  latest(leadId: string): Promise<TwinRecord | null>;
  /**
   * Erasure: drops the lead's record if it is not newer than the deletion `version`, and remembers the deletion
   * for the horizon, so a later `note` of a version at or below it is ignored. A newer record (a save that
   * came after the DELETE) stays.
   */
  forget(leadId: string, version: Version): Promise<void>;
  close(): Promise<void>;
}

/** How long noted versions are kept by default (TWINS_READ_YOUR_WRITES_HORIZON_S): well beyond any lag. */
export const RECENT_WRITES_HORIZON_MS = 900_000;

/** What every RecentWrites adapter is built with. */
export interface RecentWritesOptions {
  /** Default RECENT_WRITES_HORIZON_MS. */
  horizonMs?: number;
  /** Epoch ms; injectable so expiry is tested without waiting. */
  now?: () => number;
}
