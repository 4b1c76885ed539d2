import { Classification, Version } from '@twinstore/domain';

export interface CachedTwin {
  leadId: string;
  version: Version;
  classification: Classification;
  markdown: Buffer;
}

/**
 * A read cache of current twin content. `set` is a compare-and-set on version and respects deletion
 * tombstones, so a late or duplicated event can never put an older or erased version back.
 */
export interface TwinCache {
  get(leadId: string): Promise<CachedTwin | null>;
  set(entry: CachedTwin, ttlSeconds: number): Promise<'applied' | 'stale'>;
  /**
   * `set` of many entries in one round trip, applied in the given order (so entries of one lead converge on
   * the newest); one result per entry, in the same order.
   */
  setMany(entries: readonly { entry: CachedTwin; ttlSeconds: number }[]): Promise<('applied' | 'stale')[]>;
  /** Drop the entry and remember the deletion version for as long as any entry could live. */
  invalidate(leadId: string, version: Version): Promise<void>;
  close(): Promise<void>;
}
