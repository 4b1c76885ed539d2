import { exponential, hashUnit, makeRng, normal, poisson } from './rng';
import { TwinSize } from './tier-costs';

/**
 * Synthetic access trace. Nothing is stored per event: each twin's life is generated on demand, from its own
 * random stream (seed, twin index), as per-day read and write counts in two reusable typed arrays. A 1M-twin,
 * two-year trace therefore needs no more memory than one twin's 730 days.
 *
 * Model, per twin:
 * - created on day 0 (an initial bulk load, `initialFraction`) or on a uniformly random later day; the creation
 *   is a write;
 * - a Zipf popularity: rank r uniform in 1..N, weight r^-s / H(N, s); the fresh read rate is
 *   `readsPerTwinPerDay * N * weight` (the mean over twins is `readsPerTwinPerDay`);
 * - ageing: the rate is multiplied by floor + (1 - floor) * 2^(-age / halfLife), age = days since the last
 *   write (a lead is read while it is fresh, rarely later);
 * - updates (writes) at `writesPerTwinPerDay * sqrt(N * weight)`, ageing the same way;
 * - bursts: campaigns (random windows, `campaignEveryDays` apart on average) pick a random fraction of the
 *   twins that exist when they start and read them `campaignReadsPerDay` a day; some members are updated too.
 */
export interface TraceParams {
  twins: number;
  days: number;
  seed: number;
  initialFraction: number;
  zipfExponent: number;
  readsPerTwinPerDay: number;
  writesPerTwinPerDay: number;
  ageingHalfLifeDays: number;
  ageingFloor: number;
  campaignEveryDays: number;
  campaignMinDays: number;
  campaignMaxDays: number;
  campaignMinFraction: number;
  campaignMaxFraction: number;
  campaignReadsPerDay: number;
  campaignWriteProbability: number;
  markdownMedianBytes: number;
  markdownSigma: number;
  markdownMaxBytes: number;
  imageFraction: number;
  imageBytes: number;
  metadataBytes: number;
}

export const DEFAULT_TRACE: TraceParams = {
  twins: 1_000_000,
  days: 730,
  seed: 1,
  initialFraction: 0.2,
  zipfExponent: 1,
  readsPerTwinPerDay: 0.1,
  writesPerTwinPerDay: 0.01,
  ageingHalfLifeDays: 30,
  ageingFloor: 0.05,
  campaignEveryDays: 60,
  campaignMinDays: 3,
  campaignMaxDays: 14,
  campaignMinFraction: 0.01,
  campaignMaxFraction: 0.05,
  campaignReadsPerDay: 0.5,
  campaignWriteProbability: 0.2,
  markdownMedianBytes: 10_000,
  markdownSigma: 0.6,
  markdownMaxBytes: 2_000_000,
  imageFraction: 0,
  imageBytes: 300_000,
  metadataBytes: 1_024,
};

export interface Campaign {
  start: number;
  /** Exclusive. */
  end: number;
  fraction: number;
}

/** The trace-wide parts: campaigns and the Zipf normalisation. */
export interface TracePlan {
  params: TraceParams;
  campaigns: Campaign[];
  /** Generalised harmonic number H(N, s). */
  harmonic: number;
}

export function planTrace(partial: Partial<TraceParams> = {}): TracePlan {
  const params = { ...DEFAULT_TRACE, ...partial };
  if (!Number.isSafeInteger(params.twins) || params.twins < 1) throw new RangeError('twins must be >= 1');
  if (!Number.isSafeInteger(params.days) || params.days < 2 || params.days > 100_000) {
    throw new RangeError('days must be an integer from 2 to 100000');
  }
  const rng = makeRng(params.seed, -1);
  const campaigns: Campaign[] = [];
  const count = Math.floor(params.days / params.campaignEveryDays);
  for (let i = 0; i < count; i++) {
    const length =
      params.campaignMinDays + Math.floor(rng() * (params.campaignMaxDays - params.campaignMinDays + 1));
    const start = Math.floor(params.campaignEveryDays / 2 + rng() * Math.max(1, params.days - length - 30));
    const fraction =
      params.campaignMinFraction + rng() * (params.campaignMaxFraction - params.campaignMinFraction);
    campaigns.push({ start, end: Math.min(params.days, start + length), fraction });
  }
  campaigns.sort((a, b) => a.start - b.start);
  return { params, campaigns, harmonic: harmonic(params.twins, params.zipfExponent) };
}

function harmonic(n: number, s: number): number {
  // Exact up to 1e6 terms, then the integral tail (error far below 1e-6 relative).
  const exact = Math.min(n, 1_000_000);
  let h = 0;
  for (let k = exact; k >= 1; k--) h += k ** -s;
  if (n > exact) h += s === 1 ? Math.log(n / exact) : (n ** (1 - s) - exact ** (1 - s)) / (1 - s);
  return h;
}

/** One twin's generated life. `reads`/`writes` hold counts for days `created..days-1` (earlier days are 0). */
export interface TwinTrace {
  index: number;
  created: number;
  /** Zipf rank (1 = most popular). */
  rank: number;
  size: TwinSize;
  reads: Uint32Array;
  writes: Uint32Array;
  totalReads: number;
  totalWrites: number;
  campaignReads: number;
}

/** Reusable buffers for `generateTwin`. */
export function newTwinTrace(days: number): TwinTrace {
  return {
    index: -1,
    created: 0,
    rank: 0,
    size: { markdownBytes: 0, imageBytes: 0, imageBlobs: 0, metadataBytes: 0 },
    reads: new Uint32Array(days),
    writes: new Uint32Array(days),
    totalReads: 0,
    totalWrites: 0,
    campaignReads: 0,
  };
}

/** Twins with a fresh read rate above this get per-day Poisson draws instead of thinned event times. */
const DENSE_RATE = 2;

/** Generates twin `index` of the plan into `out` (deterministic in (seed, index)). */
export function generateTwin(plan: TracePlan, index: number, out: TwinTrace): TwinTrace {
  const p = plan.params;
  const D = p.days;
  const rng = makeRng(p.seed, index);
  const reads = out.reads;
  const writes = out.writes;
  reads.fill(0);
  writes.fill(0);

  const created = rng() < p.initialFraction ? 0 : 1 + Math.floor(rng() * (D - 1));
  const rank = 1 + Math.floor(rng() * p.twins);
  const popularity = (p.twins * rank ** -p.zipfExponent) / plan.harmonic; // mean ~1 over twins
  const markdown = Math.min(
    p.markdownMaxBytes,
    Math.round(p.markdownMedianBytes * Math.exp(p.markdownSigma * normal(rng))),
  );
  const hasImages = rng() < p.imageFraction;
  out.index = index;
  out.created = created;
  out.rank = rank;
  out.size.markdownBytes = markdown;
  out.size.imageBytes = hasImages ? p.imageBytes : 0;
  out.size.imageBlobs = hasImages ? 3 : 0;
  out.size.metadataBytes = p.metadataBytes;

  const halfLife = p.ageingHalfLifeDays;
  const floor = p.ageingFloor;
  const ageing = (age: number) => floor + (1 - floor) * 2 ** (-age / halfLife);

  // Writes: creation, thinned updates, campaign updates.
  writes[created] = 1;
  const writeRate = p.writesPerTwinPerDay * Math.sqrt(popularity);
  let lastWrite = created;
  if (writeRate > 0) {
    let t = created + exponential(rng, writeRate);
    while (t < D) {
      if (rng() < ageing(t - lastWrite)) {
        writes[Math.floor(t)]++;
        lastWrite = t;
      }
      t += exponential(rng, writeRate);
    }
  }
  let campaignReads = 0;
  for (let k = 0; k < plan.campaigns.length; k++) {
    const c = plan.campaigns[k];
    if (c.start <= created || hashUnit(p.seed, index, k + 1) >= c.fraction) continue;
    const length = c.end - c.start;
    const n = poisson(rng, p.campaignReadsPerDay * length);
    for (let i = 0; i < n; i++) reads[c.start + Math.floor(rng() * length)]++;
    campaignReads += n;
    if (rng() < p.campaignWriteProbability) writes[c.start + Math.floor(rng() * length)]++;
  }

  // Organic reads, ageing with the time since the last write (any write, campaign ones included).
  const readRate = p.readsPerTwinPerDay * popularity;
  if (readRate >= DENSE_RATE) {
    let last = created;
    for (let d = created; d < D; d++) {
      if (writes[d] !== 0) last = d;
      reads[d] += poisson(rng, readRate * ageing(d + 0.5 - last));
    }
  } else if (readRate > 0) {
    let t = created + exponential(rng, readRate);
    let last = created;
    let scanned = created; // days up to `scanned` have been checked for writes
    while (t < D) {
      const day = Math.floor(t);
      while (scanned < day) {
        scanned++;
        if (writes[scanned] !== 0) last = scanned;
      }
      if (rng() < ageing(t - last)) reads[day]++;
      t += exponential(rng, readRate);
    }
  }

  let totalReads = 0;
  let totalWrites = 0;
  for (let d = created; d < D; d++) {
    totalReads += reads[d];
    totalWrites += writes[d];
  }
  out.totalReads = totalReads;
  out.totalWrites = totalWrites;
  out.campaignReads = campaignReads;
  return out;
}
