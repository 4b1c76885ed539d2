import { Tier, TierThresholds, Version } from '@twinstore/domain';
import { ApplyResult } from './catalog.port';

export interface ActivityWrite {
  leadId: string;
  version: Version;
  at: Date;
}

export interface TwinActivity {
  leadId: string;
  version: Version;
  lastWriteAt: string;
  lastAccessAt: string | null;
  tier: Tier;
}

/** Tiering bookkeeping: last write and last access per twin, and the tier derived from them. */
export interface ActivityStore {
  recordWrite(leadId: string, version: Version, at: Date): Promise<ApplyResult>;
  /**
   * `recordWrite` of many twins in one backend round (one transaction, entity-group transactions), one result
   * per write in the same order. Writes of one lead converge on the newest, whatever their order in the call.
   */
  recordWrites(writes: readonly ActivityWrite[]): Promise<ApplyResult[]>;
  recordAccess(leadId: string, at: Date): Promise<void>;
  remove(leadId: string, version: Version): Promise<ApplyResult>;
  get(leadId: string): Promise<TwinActivity | null>;
  /** Re-derive every tier at `now`; returns how many twins changed tier. */
  sweep(now: Date, thresholds: TierThresholds): Promise<number>;
  countByTier(): Promise<Record<Tier, number>>;
  close(): Promise<void>;
}
