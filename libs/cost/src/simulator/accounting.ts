import { COLD, TierCosts } from './tier-costs';

/**
 * The one cost function every policy is charged with, the offline optimum included.
 *
 * A twin's life is a sequence of days `from .. to-1`; `tiers[d]` is the tier it is in on day d (the tier that
 * serves that day's reads and writes). The twin is created on day `from`, in the tier `tiers[from]` (always hot
 * for the policies here: ingest writes to the catalog and the Hot blob tier), with no transition charge.
 * Day d costs:
 * - a transition `transition[prev][cur]` when the tier differs from the day before, plus the early-deletion
 *   penalty `(minStay[prev] - k) x blobStoragePerDay[prev]` when the twin leaves `prev` after k < minStay days;
 * - storage `storagePerDay[cur]`;
 * - operations `reads[d] x read[cur] + writes[d] x write[cur]`.
 * A stay still in progress when the horizon ends pays no penalty (nothing was deleted).
 */

/** Slots of a breakdown accumulator (a Float64Array of length BREAKDOWN_SLOTS). */
export const B_STORAGE = 0;
export const B_OPERATIONS = 1;
export const B_TRANSITIONS = 2;
export const B_PENALTIES = 3;
/** Number of tier changes. */
export const B_MOVES = 4;
/** Promotions out of cold (each one is a bundle rehydration, hours of delay for an online policy). */
export const B_REHYDRATIONS = 5;
/** Reads served while cold (each a rehydration of its own). */
export const B_COLD_READS = 6;
/** Twin-days spent in hot, warm, cold. */
export const B_DAYS_HOT = 7;
export const B_DAYS_WARM = 8;
export const B_DAYS_COLD = 9;
export const BREAKDOWN_SLOTS = 10;

export function newBreakdown(): Float64Array {
  return new Float64Array(BREAKDOWN_SLOTS);
}

/** Total USD of a breakdown accumulator. */
export function breakdownTotal(b: Float64Array): number {
  return b[B_STORAGE] + b[B_OPERATIONS] + b[B_TRANSITIONS] + b[B_PENALTIES];
}

/**
 * Adds the cost of `tiers[from..to)` for one twin to `out` and returns that twin's total (USD).
 */
export function accountPath(
  costs: TierCosts,
  reads: ArrayLike<number>,
  writes: ArrayLike<number>,
  tiers: ArrayLike<number>,
  from: number,
  to: number,
  out: Float64Array,
): number {
  const { storagePerDay, blobStoragePerDay, minStayDays, read, write, transition } = costs;
  let storage = 0;
  let operations = 0;
  let transitions = 0;
  let penalties = 0;
  let moves = 0;
  let rehydrations = 0;
  let coldReads = 0;
  let prev = tiers[from];
  let entered = from;
  for (let d = from; d < to; d++) {
    const cur = tiers[d];
    if (cur !== prev) {
      transitions += transition[prev * 3 + cur];
      const stayed = d - entered;
      const min = minStayDays[prev];
      if (stayed < min) penalties += (min - stayed) * blobStoragePerDay[prev];
      if (prev === COLD) rehydrations++;
      moves++;
      entered = d;
      prev = cur;
    }
    storage += storagePerDay[cur];
    const r = reads[d];
    const w = writes[d];
    if (r !== 0 || w !== 0) operations += r * read[cur] + w * write[cur];
    if (cur === COLD) coldReads += r;
    out[7 + cur]++;
  }
  out[B_STORAGE] += storage;
  out[B_OPERATIONS] += operations;
  out[B_TRANSITIONS] += transitions;
  out[B_PENALTIES] += penalties;
  out[B_MOVES] += moves;
  out[B_REHYDRATIONS] += rehydrations;
  out[B_COLD_READS] += coldReads;
  return storage + operations + transitions + penalties;
}
