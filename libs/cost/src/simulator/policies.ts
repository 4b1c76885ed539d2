import { DEFAULT_TIER_THRESHOLDS } from '@twinstore/domain';
import {
  B_COLD_READS,
  B_MOVES,
  B_OPERATIONS,
  B_PENALTIES,
  B_REHYDRATIONS,
  B_STORAGE,
  B_TRANSITIONS,
} from './accounting';
import { COLD, HOT, TierCosts, TierIndex, WARM } from './tier-costs';

/**
 * Online tiering policies: pure functions of what a tiering service knows on day `now` (the twin's current
 * tier, when it entered it, its last read or write, including one today: an access promotes the twin before
 * it is served). `runOnline` replays a day-by-day trace through one of them.
 */
export interface TierState {
  tier: TierIndex;
  /** Day the twin entered its current tier. */
  enteredDay: number;
  /** Last day with a read or write (today when it was accessed today). */
  lastAccessDay: number;
}

export type OnlinePolicy = (state: Readonly<TierState>, now: number) => TierIndex;

/** Everything hot: the Cosmos catalog and the Hot blob tier for every twin, forever. */
export const allHot: OnlinePolicy = () => HOT;

/**
 * The reference document's static policy (`deriveTier` in libs/domain; ADR 0007):
 * idle < 30 days hot, 30-365 warm, older cold; any access makes the twin hot again. Minimum stays are not
 * considered.
 */
export function staticPolicy(
  warmAfterDays = DEFAULT_TIER_THRESHOLDS.warmAfterDays,
  coldAfterDays = DEFAULT_TIER_THRESHOLDS.coldAfterDays,
): OnlinePolicy {
  return (state, now) => {
    const idle = now - state.lastAccessDay;
    return idle >= coldAfterDays ? COLD : idle >= warmAfterDays ? WARM : HOT;
  };
}

/** Thresholds of the product policy for one twin (or one size class of twins). */
export interface ProductThresholds {
  /** Idle days after which the twin moves to warm (Infinity: warm never pays for this twin). */
  warmAfterDays: number;
  /** Idle days after which the twin moves to cold (Infinity: cold never pays). */
  coldAfterDays: number;
  /** Minimum days in each tier (hot, warm, cold) before the policy moves the twin further down. */
  minStayDays: readonly [number, number, number];
}

/**
 * The product's policy (what `libs/application`'s tiering service adopts):
 * - an access (read or write) promotes the twin to hot the day it happens;
 * - otherwise the target is the tier that is cheapest for an idle period as long as the one observed so far
 *   (`idle >= coldAfterDays` cold, `idle >= warmAfterDays` warm, else hot; thresholds from `productThresholds`);
 * - a twin only moves down, never up, on a timer, and never leaves a tier before its minimum stay.
 */
export function decideTier(state: Readonly<TierState>, now: number, t: ProductThresholds): TierIndex {
  if (state.lastAccessDay === now) return HOT;
  const idle = now - state.lastAccessDay;
  const target: TierIndex = idle >= t.coldAfterDays ? COLD : idle >= t.warmAfterDays ? WARM : HOT;
  if (target <= state.tier) return state.tier;
  return now - state.enteredDay >= t.minStayDays[state.tier] ? target : state.tier;
}

export interface ProductPolicyOptions {
  /** Multiplies both break-even thresholds (1 = demote exactly at the break-even point). */
  scale?: number;
}

/**
 * Break-even ("ski rental") thresholds from the twin's own prices. Keeping the twin in tier t for an idle period
 * of y days that ends with an access costs
 *   f_t(y) = in_t + out_t + s_t * y + max(0, m_t - y) * b_t
 * (transition down and back up, storage per day, early-deletion penalty), f_hot(y) = s_hot * y. The policy moves
 * the twin to the tier with the lowest f_t at the idle time observed so far: warm from the first y where
 * f_warm <= f_hot, cold from the first y where f_cold <= min(f_hot, f_warm). Following this lower envelope is
 * the classic rent-or-buy rule: whatever the idle period turns out to be, the policy pays at most about twice
 * what the clairvoyant choice would for it.
 */
export function productThresholds(costs: TierCosts, options: ProductPolicyOptions = {}): ProductThresholds {
  const scale = options.scale ?? 1;
  const { storagePerDay: s, blobStoragePerDay: b, minStayDays: m, transition: tr } = costs;
  const line = (t: number): Line => ({
    fixed: t === HOT ? 0 : tr[HOT * 3 + t] + tr[t * 3 + HOT],
    rate: s[t],
    min: m[t],
    penalty: b[t],
  });
  const hot = line(HOT);
  const warm = line(WARM);
  const cold = line(COLD);
  const hotWarm = crossing(hot, warm);
  const coldVsHot = crossing(hot, cold);
  const coldVsWarm = crossing(warm, cold);
  let warmAfterDays = hotWarm;
  let coldAfterDays: number;
  if (hotWarm < coldVsHot) {
    // Warm is on the envelope from hotWarm; cold takes over once it beats warm (and hot).
    coldAfterDays = Math.max(coldVsWarm, coldVsHot, hotWarm);
  } else {
    warmAfterDays = Infinity;
    coldAfterDays = coldVsHot;
  }
  return {
    warmAfterDays: Math.ceil(warmAfterDays * scale),
    coldAfterDays: Math.ceil(coldAfterDays * scale),
    minStayDays: [m[HOT], m[WARM], m[COLD]],
  };
}

export interface Line {
  fixed: number;
  rate: number;
  min: number;
  penalty: number;
}

function cost(l: Line, y: number): number {
  return l.fixed + l.rate * y + Math.max(0, l.min - y) * l.penalty;
}

/** The first y >= 0 from which f_b(y) <= f_a(y) (Infinity if never). Exact for these piecewise-linear f. */
export function crossing(a: Line, b: Line): number {
  const lo = Math.min(a.min, b.min);
  const hi = Math.max(a.min, b.min);
  const points = [0, Math.max(0, lo), Math.max(0, hi), Infinity];
  for (let i = 0; i < 3; i++) {
    const start = points[i];
    const end = points[i + 1];
    if (end <= start && end !== Infinity) continue;
    const g0 = cost(a, start) - cost(b, start);
    if (g0 >= 0) return start;
    const slope = end === Infinity ? a.rate - b.rate : (cost(a, end) - cost(b, end) - g0) / (end - start);
    if (slope > 0) {
      const y = start - g0 / slope;
      if (y <= end) return y;
    }
  }
  return Infinity;
}

/** The product policy as an `OnlinePolicy` for one twin. */
export function productPolicy(thresholds: ProductThresholds): OnlinePolicy {
  return (state, now) => decideTier(state, now, thresholds);
}

/**
 * Replays days `from..to-1` through an online policy and writes the tier of each day into `tiers`. The twin is
 * created hot on day `from`.
 */
export function runOnline(
  policy: OnlinePolicy,
  reads: ArrayLike<number>,
  writes: ArrayLike<number>,
  from: number,
  to: number,
  tiers: Uint8Array,
): void {
  const state: TierState = { tier: HOT, enteredDay: from, lastAccessDay: from };
  tiers[from] = HOT;
  for (let d = from + 1; d < to; d++) {
    if (reads[d] !== 0 || writes[d] !== 0) state.lastAccessDay = d;
    const t = policy(state, d);
    if (t !== state.tier) {
      state.tier = t;
      state.enteredDay = d;
    }
    tiers[d] = t;
  }
}

/** The static policy's thresholds in `ProductThresholds` form (no minimum stays). */
export function staticThresholds(
  warmAfterDays = DEFAULT_TIER_THRESHOLDS.warmAfterDays,
  coldAfterDays = DEFAULT_TIER_THRESHOLDS.coldAfterDays,
): ProductThresholds {
  return { warmAfterDays, coldAfterDays, minStayDays: [0, 0, 0] };
}

/**
 * The simulator's fast path for idle-threshold policies (static and product): the same tier sequence as
 * `runOnline(productPolicy(t))` and the same charges as `accountPath`, in one pass and without a call per day.
 * (A unit test checks it against the two generic functions.) Returns the twin's total.
 */
export function accountThresholdPolicy(
  costs: TierCosts,
  reads: ArrayLike<number>,
  writes: ArrayLike<number>,
  from: number,
  to: number,
  t: ProductThresholds,
  out: Float64Array,
): number {
  const { storagePerDay, blobStoragePerDay, minStayDays, read, write, transition } = costs;
  const warmAfter = t.warmAfterDays;
  const coldAfter = t.coldAfterDays;
  const stay = t.minStayDays;
  let storage = storagePerDay[HOT];
  let operations = reads[from] * read[HOT] + writes[from] * write[HOT];
  let transitions = 0;
  let penalties = 0;
  let moves = 0;
  let rehydrations = 0;
  let coldReads = 0;
  let tier = HOT;
  let entered = from;
  let last = from;
  const days = [1, 0, 0];
  for (let d = from + 1; d < to; d++) {
    const r = reads[d];
    const w = writes[d];
    let next = tier;
    if (r !== 0 || w !== 0) {
      last = d;
      next = HOT;
    } else {
      const idle = d - last;
      const target = idle >= coldAfter ? COLD : idle >= warmAfter ? WARM : HOT;
      if (target > tier && d - entered >= stay[tier]) next = target;
    }
    if (next !== tier) {
      transitions += transition[tier * 3 + next];
      const stayed = d - entered;
      const min = minStayDays[tier];
      if (stayed < min) penalties += (min - stayed) * blobStoragePerDay[tier];
      if (tier === COLD) rehydrations++;
      moves++;
      entered = d;
      tier = next;
    }
    storage += storagePerDay[tier];
    if (r !== 0 || w !== 0) operations += r * read[tier] + w * write[tier];
    if (tier === COLD) coldReads += r;
    days[tier]++;
  }
  out[B_STORAGE] += storage;
  out[B_OPERATIONS] += operations;
  out[B_TRANSITIONS] += transitions;
  out[B_PENALTIES] += penalties;
  out[B_MOVES] += moves;
  out[B_REHYDRATIONS] += rehydrations;
  out[B_COLD_READS] += coldReads;
  out[7] += days[0];
  out[8] += days[1];
  out[9] += days[2];
  return storage + operations + transitions + penalties;
}
