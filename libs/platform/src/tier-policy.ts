import { loadPriceTable, productThresholds, simPricesFromTable, tierCosts } from '@twinstore/cost';

/** The longest threshold a sweep uses: "never", in practice (100 years). */
export const NEVER_DAYS = 36_500;

export interface BreakEvenInput {
  /** Typical twin size (markdown), KiB. */
  typicalTwinKb: number;
  /** Twins per cold bundle (a cold read rehydrates the whole bundle). */
  bundleMaxTwins: number;
  /** A price table file overriding the bundled one (`twins cost prices refresh` writes one). */
  priceTableFile?: string;
}

/**
 * The product's tier policy (`TWINS_TIER_POLICY=break-even`): demote a twin when it has been idle for as long
 * as the move down and back up would cost in storage saved, from the price table and the twin's size
 * (`productThresholds`, libs/cost; `twins cost simulate` shows it within 10% of the clairvoyant optimum, and
 * the fixed 30/365 policy about 4x it, docs/tiering-simulation.md). "Never" is capped at NEVER_DAYS. A cold
 * twin stays warm at least its Cool minimum stay first, so no early-deletion charge is paid on the way down.
 */
export function breakEvenThresholds(input: BreakEvenInput): { warmAfterDays: number; coldAfterDays: number } {
  const bytes = input.typicalTwinKb * 1024;
  const costs = tierCosts(
    simPricesFromTable(loadPriceTable(input.priceTableFile)),
    { markdownBytes: bytes, imageBytes: 0, imageBlobs: 0, metadataBytes: 1024 },
    { bundleBytes: input.bundleMaxTwins * bytes },
  );
  const t = productThresholds(costs);
  const clamp = (d: number) => (Number.isFinite(d) ? Math.min(Math.max(1, d), NEVER_DAYS) : NEVER_DAYS);
  const warmAfterDays = clamp(t.warmAfterDays);
  // a twin stays warm at least the Cool minimum stay before it goes cold
  return {
    warmAfterDays,
    coldAfterDays: Math.max(clamp(t.coldAfterDays), warmAfterDays + Math.max(1, t.minStayDays[1])),
  };
}
