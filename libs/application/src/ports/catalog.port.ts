import { TwinRecord, Version } from '@twinstore/domain';

export type ApplyResult = 'applied' | 'stale';

/**
 * The catalog of current twin versions (SQLite on embedded, Cosmos for the hot set on Azure). Every write is
 * version-guarded: an older or equal version, or one at or below the lead's deletion tombstone, is `stale`.
 */
export interface TwinCatalog {
  upsert(record: TwinRecord): Promise<ApplyResult>;
  get(leadId: string): Promise<TwinRecord | null>;
  /** Erase the lead and remember the deletion version, so a late older event cannot bring it back. */
  remove(leadId: string, version: Version): Promise<ApplyResult>;
  /** The version of the lead's deletion, if it was deleted. */
  tombstone(leadId: string): Promise<Version | null>;
  count(): Promise<number>;
  /** Records in leadId order, after `after` (exclusive). */
  list(options: { after?: string; limit: number }): Promise<TwinRecord[]>;
  close(): Promise<void>;
}
