export const TIERS = ['hot', 'warm', 'cold'] as const;
export type Tier = (typeof TIERS)[number];

export interface TierThresholds {
  /** Days without write or access after which a twin is warm. */
  warmAfterDays: number;
  /** Days without write or access after which a twin is cold. */
  coldAfterDays: number;
}

export const DEFAULT_TIER_THRESHOLDS: TierThresholds = { warmAfterDays: 30, coldAfterDays: 365 };
const DAY_MS = 86_400_000;

/** The tier a twin belongs in, from its last write or access (whichever is later). */
export function deriveTier(lastActivity: Date, now: Date, t: TierThresholds = DEFAULT_TIER_THRESHOLDS): Tier {
  const idleDays = (now.getTime() - lastActivity.getTime()) / DAY_MS;
  if (idleDays >= t.coldAfterDays) return 'cold';
  if (idleDays >= t.warmAfterDays) return 'warm';
  return 'hot';
}
