import { TwinRecord, Version } from '@twinstore/domain';

export type ApplyResult = 'applied' | 'stale';

/** What `upsertMany` did with one record, and what it saw of the lead while doing it. */
export interface UpsertOutcome {
  result: ApplyResult;
  /**
   * The lead had a live record before the call. Without one no pointer blob was written for it yet (unless
   * the catalog was rebuilt), so a writer may try to create the pointer before reading it.
   */
  hadRecord: boolean;
  /** The lead's deletion tombstone as the write saw it. */
  tombstone: Version | null;
}

/**
 * The catalog of current twin versions (SQLite on embedded, Cosmos for the hot set on Azure). Every write is
 * version-guarded: an older or equal version, or one at or below the lead's deletion tombstone, is `stale`.
 */
export interface TwinCatalog {
  upsert(record: TwinRecord): Promise<ApplyResult>;
  /**
   * `upsert` of many records in one backend round (one transaction, one bulk call), one outcome per record in
   * the same order. Records of one lead converge on the newest, whatever their order in the call.
   */
  upsertMany(records: readonly TwinRecord[]): Promise<UpsertOutcome[]>;
  get(leadId: string): Promise<TwinRecord | null>;
  /** Erase the lead and remember the deletion version, so a late older event cannot bring it back. */
  remove(leadId: string, version: Version): Promise<ApplyResult>;
  /** The version of the lead's deletion, if it was deleted. */
  tombstone(leadId: string): Promise<Version | null>;
  /** The deletion tombstones of those leads that have one, in one backend round. */
  tombstones(leadIds: readonly string[]): Promise<Map<string, Version>>;
  count(): Promise<number>;
  /** Records in leadId order, after `after` (exclusive). */
  list(options: { after?: string; limit: number }): Promise<TwinRecord[]>;
  close(): Promise<void>;
}
