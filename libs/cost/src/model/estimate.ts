import {
  BlobTier,
  graduatedCost,
  PriceKey,
  PriceTable,
  REDIS_SKUS,
  RedisSku,
  SEARCH_SKUS,
  SearchSku,
} from './prices';

/**
 * The cost model: monthly cost of a twinstore deployment on Azure, computed from quantities
 * (twins, sizes, operations per day) and a price table. A pure function: no I/O, no clock.
 *
 * Units: KB = 1,024 bytes, GB = 1,024 x 1,024 KB (Azure bills storage in binary GB);
 * a month = `hoursPerMonth` (730) hours = 30.4167 days.
 *
 * Rounding rule: every line item is computed in full precision in USD, then rounded to whole
 * cents (half up); subtotals per service, tier and kind, and the total, are sums of the rounded
 * lines, so the printed lines always add up to the printed totals.
 */

export const COST_SERVICES = [
  'blob',
  'cosmos',
  'table',
  'search',
  'serviceBus',
  'redis',
  'bandwidth',
] as const;
export type CostService = (typeof COST_SERVICES)[number];
/** Data tiers of twinstore; `shared` = capacity that serves every tier (search units, bus, cache). */
export const COST_TIERS = ['hot', 'warm', 'cold', 'shared'] as const;
export type CostTier = (typeof COST_TIERS)[number];
/** storage = GB-month; operations = per-request charges (incl. data retrieval);
 *  capacity = hourly-billed units (search units, bus namespace, cache, provisioned RU/s); transfer = bandwidth. */
export const COST_KINDS = ['storage', 'operations', 'capacity', 'transfer'] as const;
export type CostKind = (typeof COST_KINDS)[number];

export type CosmosMode = 'serverless' | 'provisioned' | 'autoscale';
export type RehydratePriority = 'standard' | 'high';

export interface TierShare {
  hot: number;
  warm: number;
  cold: number;
}

export interface EstimateInput {
  /** Number of twins stored. */
  twins: number;
  /** Average markdown size, KB. */
  avgKb: number;
  /** Twin saves (new versions) per day; a write makes the twin hot. */
  writesPerDay: number;
  /** Twin reads (GET content) per day. */
  readsPerDay: number;
  /** Full-text searches per day. */
  searchesPerDay: number;
  /** Share of twins per tier (sums to 1). */
  share: TierShare;
  /** Share of reads per tier (sums to 1). Default hot 0.95, warm 0.04, cold 0.01. */
  readShare?: TierShare;
  imagesPerTwin?: number;
  avgImageKb?: number;
  /** Regions holding a full copy (default 1). */
  regions?: number;
  /** Stored versions per twin (current + history day-blobs); default 1. */
  versionsPerTwin?: number;
  /** Metadata record size (catalog document, table entity, pointer blob), KB; default 1. */
  metadataKb?: number;
  /** Subscriptions on the twin-events topic; default 4 (writer, indexer, cache-warmer, tiering). */
  subscriptions?: number;
  cosmosMode?: CosmosMode;
  /** Peak-to-average ratio used to size provisioned/autoscale RU/s; default 3. */
  cosmosPeakFactor?: number;
  /** Cache hit ratio per tier; default hot 0.8, warm 0.2, cold 0 (TTL 3600 s / 300 s / none). */
  cacheHitRatio?: TierShare;
  /** Search tier; default: the smallest tier whose partitions hold the index. */
  searchSku?: SearchSku;
  searchReplicas?: number;
  /** Index size relative to the raw markdown; default 1. */
  searchIndexRatio?: number;
  /** Cache SKU; default: the smallest that holds the working set. */
  redisSku?: RedisSku;
  /** Twins per cold (archive) bundle; default 1000. */
  bundleTwins?: number;
  rehydratePriority?: RehydratePriority;
  /** Share of read bytes that leave Azure (internet egress); default 0 (callers in the region). */
  egressShare?: number;
  /**
   * Requests per save beyond the two PUTs, as `twins cost report` counted them after `twins load --count 500`
   * (docs/cost.md): Hot blob reads (default 1), Hot other operations such as Get Blob Properties (default 2),
   * catalog point reads by the version guards (default 3).
   */
  blobReadsPerWrite?: number;
  blobOtherOpsPerWrite?: number;
  cosmosReadsPerWrite?: number;
  /** Days a twin stays hot after its last access (default 30) and warm (default 365). */
  hotDays?: number;
  warmDays?: number;
}

export type NormalizedInput = Required<Omit<EstimateInput, 'searchSku' | 'redisSku'>> & {
  searchSku?: SearchSku;
  redisSku?: RedisSku;
};

export interface CostLine {
  service: CostService;
  tier: CostTier;
  kind: CostKind;
  /** What is counted, e.g. "Hot write operations". */
  item: string;
  /** Billed quantity per month in `unit`. */
  quantity: number;
  unit: string;
  priceKey: PriceKey;
  /** USD per unit (for graduated prices: the effective average). */
  unitUsd: number;
  /** Full-precision USD before rounding. */
  usd: number;
  cents: number;
}

export interface Subtotal {
  storage: number;
  operations: number;
  capacity: number;
  transfer: number;
  total: number;
}

export interface Estimate {
  input: NormalizedInput;
  prices: { name: string; region: string; retrieved: string; currency: 'USD' };
  /** Derived quantities per month (for the doc and for checking by hand). */
  quantities: Record<string, number | string>;
  lines: CostLine[];
  /** In cents. */
  byService: Record<CostService, Subtotal>;
  byTier: Record<CostTier, Subtotal>;
  byKind: Record<CostKind, number>;
  totalCents: number;
  assumptions: string[];
}

export class EstimateInputError extends Error {
  override readonly name = 'EstimateInputError';
}

export const KB_PER_GB = 1024 * 1024;

/** Rounds USD to whole cents, half up, ignoring binary floating-point noise (0.125 -> 13). */
export function toCents(usd: number): number {
  return Math.round(Number((usd * 100).toPrecision(12)));
}

const DEFAULTS = {
  readShare: { hot: 0.95, warm: 0.04, cold: 0.01 },
  imagesPerTwin: 0,
  avgImageKb: 0,
  regions: 1,
  versionsPerTwin: 1,
  metadataKb: 1,
  subscriptions: 4,
  cosmosMode: 'serverless' as CosmosMode,
  cosmosPeakFactor: 3,
  cacheHitRatio: { hot: 0.8, warm: 0.2, cold: 0 },
  searchReplicas: 1,
  searchIndexRatio: 1,
  bundleTwins: 1000,
  rehydratePriority: 'standard' as RehydratePriority,
  egressShare: 0,
  blobReadsPerWrite: 1,
  blobOtherOpsPerWrite: 2,
  cosmosReadsPerWrite: 3,
  hotDays: 30,
  warmDays: 365,
};

export function normalizeInput(input: EstimateInput): NormalizedInput {
  const n = { ...DEFAULTS, ...stripUndefined(input) } as NormalizedInput;
  const nonNegative: (keyof NormalizedInput)[] = [
    'twins',
    'avgKb',
    'writesPerDay',
    'readsPerDay',
    'searchesPerDay',
    'imagesPerTwin',
    'avgImageKb',
    'egressShare',
    'blobReadsPerWrite',
    'blobOtherOpsPerWrite',
    'cosmosReadsPerWrite',
  ];
  for (const k of nonNegative) {
    const v = n[k] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new EstimateInputError(`${k} must be a non-negative number (got ${String(v)})`);
    }
  }
  const positiveInts: (keyof NormalizedInput)[] = [
    'regions',
    'versionsPerTwin',
    'subscriptions',
    'searchReplicas',
    'bundleTwins',
  ];
  for (const k of positiveInts) {
    const v = n[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new EstimateInputError(`${k} must be a positive integer`);
  }
  for (const k of ['metadataKb', 'cosmosPeakFactor', 'searchIndexRatio', 'hotDays', 'warmDays'] as const) {
    if (!(n[k] > 0) || !Number.isFinite(n[k])) throw new EstimateInputError(`${k} must be a positive number`);
  }
  if (n.warmDays <= n.hotDays) throw new EstimateInputError('warmDays must be greater than hotDays');
  if (n.egressShare > 1) throw new EstimateInputError('egressShare must be between 0 and 1');
  checkShare('share', n.share, true);
  checkShare('readShare', n.readShare, true);
  for (const t of ['hot', 'warm', 'cold'] as const) {
    if (n.share[t] > 0 || n.readShare[t] === 0) continue;
    // No twins in a tier means no reads of it: the default read split is renormalised, an explicit one refused.
    if (input.readShare) throw new EstimateInputError(`readShare.${t} is above 0 but share.${t} is 0`);
    const rest = 1 - n.readShare[t];
    n.readShare = { ...n.readShare, [t]: 0 };
    if (rest > 0) {
      n.readShare = {
        hot: n.readShare.hot / rest,
        warm: n.readShare.warm / rest,
        cold: n.readShare.cold / rest,
      };
    }
  }
  if (n.readsPerDay > 0 && n.readShare.hot + n.readShare.warm + n.readShare.cold === 0) {
    throw new EstimateInputError('reads need a tier with twins');
  }
  checkShare('cacheHitRatio', n.cacheHitRatio, false);
  if (!['serverless', 'provisioned', 'autoscale'].includes(n.cosmosMode)) {
    throw new EstimateInputError('cosmosMode must be serverless, provisioned or autoscale');
  }
  if (!['standard', 'high'].includes(n.rehydratePriority)) {
    throw new EstimateInputError('rehydratePriority must be standard or high');
  }
  if (n.searchSku !== undefined && !SEARCH_SKUS.includes(n.searchSku)) {
    throw new EstimateInputError(`searchSku must be one of ${SEARCH_SKUS.join(', ')}`);
  }
  if (n.redisSku !== undefined && !REDIS_SKUS.includes(n.redisSku)) {
    throw new EstimateInputError(`redisSku must be one of ${REDIS_SKUS.join(', ')}`);
  }
  return n;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkShare(name: string, s: TierShare | undefined, sumsToOne: boolean): void {
  if (!s || typeof s !== 'object') throw new EstimateInputError(`${name} must have hot, warm and cold`);
  for (const t of ['hot', 'warm', 'cold'] as const) {
    if (typeof s[t] !== 'number' || !(s[t] >= 0 && s[t] <= 1)) {
      throw new EstimateInputError(`${name}.${t} must be between 0 and 1`);
    }
  }
  if (sumsToOne && Math.abs(s.hot + s.warm + s.cold - 1) > 1e-6) {
    throw new EstimateInputError(`${name} must add up to 1 (got ${s.hot + s.warm + s.cold})`);
  }
}

/** Blob tier each data tier lives in (blob tiers follow the data tiers: hot, warm, cold; ADR 0007). */
export const BLOB_TIER_OF: Record<'hot' | 'warm' | 'cold', BlobTier> = {
  hot: 'hot',
  warm: 'cool',
  cold: 'archive',
};

/**
 * Monthly cost of a deployment. What is counted (per month, D = hoursPerMonth / 24 days):
 *
 * - Blob storage: content (twins x share x avgKb x versions) in Hot / Cool / Archive (cold twins packed
 *   in bundles), one metadata pointer per twin in Hot, images in the tier of their twin.
 * - Per write (x regions: every region applies it): content PUT + pointer PUT (Hot write ops),
 *   catalog upsert (metadataKb x 5.5 RU), activity upsert (entity read + conditional write = 2 table
 *   transactions), one Service Bus send plus a receive and a complete per subscription; in the writing region
 *   only: blobReadsPerWrite Hot reads, blobOtherOpsPerWrite Hot other operations, cosmosReadsPerWrite point reads
 *   (defaults 1, 2, 3: what the live counters show per save).
 * - Per read not served by the cache: hot = catalog point read (metadataKb x 1 RU) + Hot blob read;
 *   warm = table read (1 transaction) + Cool blob read + Cool retrieval per GB;
 *   cold = rehydration of the twin's bundle (archive read at the chosen priority + retrieval of the
 *   whole bundle) + a Hot write of the rehydrated copy + a `twin.rehydrated` event. Every read also
 *   records the access (1 table transaction).
 * - Tier moves (steady state, each twin passes each tier once): hot->warm = twins_hot x D / hotDays moves,
 *   each a Set Blob Tier (billed as a write in Cool), a catalog delete (write RU), a table insert and a
 *   `twin.tier-changed` event; warm->cold = twins_warm x D / (warmDays - hotDays), written as archive bundles
 *   (one Archive write per bundle) plus one table transaction and an event per twin.
 * - Search: units (replicas x partitions) x hours; the partition count comes from the index size
 *   (twins x avgKb x indexRatio) against the tier's partition size. Queries and indexing are not
 *   billed per request in AI Search; they are bounded by the units.
 * - Service Bus Standard: namespace hours per region + operations above the included 13M (graduated).
 * - Redis: the cache SKU that holds the working set (hot reads and writes within 1 h, warm reads within 5 min).
 * - Bandwidth: writes replicated to the other regions, and the egress share of read bytes to the internet.
 *
 * Not counted: Blob early-deletion charges (the layout never deletes a Cool or Archive blob before its
 * minimum days; `limits.blobEarlyDeletionDays` lists them), Cosmos index overhead, interaction logs and
 * surveys, images read traffic, support plans, taxes.
 */
export function estimate(input: EstimateInput, prices: PriceTable): Estimate {
  const n = normalizeInput(input);
  const P = prices.prices;
  const L = prices.limits;
  const hours = prices.hoursPerMonth;
  const days = hours / 24;
  const lines: CostLine[] = [];
  const add = (
    service: CostService,
    tier: CostTier,
    kind: CostKind,
    item: string,
    quantity: number,
    key: PriceKey,
    unitUsd = P[key].usd,
    usdOverride?: number,
  ): void => {
    if (quantity <= 0 && usdOverride === undefined) return;
    const usd = usdOverride ?? quantity * unitUsd;
    lines.push({
      service,
      tier,
      kind,
      item,
      quantity,
      unit: P[key].unit,
      priceKey: key,
      unitUsd,
      usd,
      cents: toCents(usd),
    });
  };

  const R = n.regions;
  const twinsBy = { hot: n.twins * n.share.hot, warm: n.twins * n.share.warm, cold: n.twins * n.share.cold };
  const writes = n.writesPerDay * days;
  const reads = n.readsPerDay * days;
  const searches = n.searchesPerDay * days;
  const readsBy = {
    hot: reads * n.readShare.hot,
    warm: reads * n.readShare.warm,
    cold: reads * n.readShare.cold,
  };
  const missesBy = {
    hot: readsBy.hot * (1 - n.cacheHitRatio.hot),
    warm: readsBy.warm * (1 - n.cacheHitRatio.warm),
    cold: readsBy.cold * (1 - n.cacheHitRatio.cold),
  };
  const hotToWarm = (twinsBy.hot * days) / n.hotDays;
  const warmToCold = (twinsBy.warm * days) / (n.warmDays - n.hotDays);
  const bundlesWritten = warmToCold / n.bundleTwins;
  const gb = (kb: number): number => kb / KB_PER_GB;

  // ---- Blob storage (x regions)
  for (const t of ['hot', 'warm', 'cold'] as const) {
    const bt = BLOB_TIER_OF[t];
    const contentGb = gb(twinsBy[t] * n.avgKb * n.versionsPerTwin) * R;
    add('blob', t, 'storage', `${cap(bt)} content`, contentGb, `blob.storage.${bt}`);
    const imageGb = gb(twinsBy[t] * n.imagesPerTwin * n.avgImageKb) * R;
    add('blob', t, 'storage', `${cap(bt)} images`, imageGb, `blob.storage.${bt}`);
  }
  add(
    'blob',
    'hot',
    'storage',
    'Hot metadata pointers (all twins)',
    gb(n.twins * n.metadataKb) * R,
    'blob.storage.hot',
  );

  // ---- Blob operations
  const per10k = (count: number): number => count / 10_000;
  add(
    'blob',
    'hot',
    'operations',
    'Hot writes: content + pointer per save',
    per10k(2 * writes * R),
    'blob.ops.hot.write',
  );
  add(
    'blob',
    'hot',
    'operations',
    'Hot other ops per save (properties)',
    per10k(writes * n.blobOtherOpsPerWrite),
    'blob.ops.hot.other',
  );
  add(
    'blob',
    'hot',
    'operations',
    'Hot reads per save',
    per10k(writes * n.blobReadsPerWrite),
    'blob.ops.hot.read',
  );
  add('blob', 'hot', 'operations', 'Hot reads (cache misses)', per10k(missesBy.hot), 'blob.ops.hot.read');
  add('blob', 'warm', 'operations', 'Cool reads (cache misses)', per10k(missesBy.warm), 'blob.ops.cool.read');
  add(
    'blob',
    'warm',
    'operations',
    'Cool data retrieval',
    gb(missesBy.warm * n.avgKb),
    'blob.retrieval.cool',
  );
  add(
    'blob',
    'warm',
    'operations',
    'Hot->Cool tier changes (write in Cool)',
    per10k(hotToWarm * R),
    'blob.ops.cool.write',
  );
  add(
    'blob',
    'cold',
    'operations',
    'Archive bundle writes',
    per10k(bundlesWritten * R),
    'blob.ops.archive.write',
  );
  const bundleGb = gb(n.bundleTwins * n.avgKb);
  if (n.rehydratePriority === 'standard') {
    add(
      'blob',
      'cold',
      'operations',
      'Archive reads (standard rehydration)',
      per10k(missesBy.cold),
      'blob.ops.archive.read',
    );
    add(
      'blob',
      'cold',
      'operations',
      'Archive retrieval (whole bundle)',
      missesBy.cold * bundleGb,
      'blob.retrieval.archive',
    );
  } else {
    add(
      'blob',
      'cold',
      'operations',
      'Archive reads (high priority)',
      per10k(missesBy.cold),
      'blob.rehydrate.high.read',
    );
    add(
      'blob',
      'cold',
      'operations',
      'High-priority retrieval (whole bundle)',
      missesBy.cold * bundleGb,
      'blob.rehydrate.high.retrieval',
    );
  }
  add(
    'blob',
    'cold',
    'operations',
    'Hot writes of rehydrated copies',
    per10k(missesBy.cold),
    'blob.ops.hot.write',
  );

  // ---- Cosmos DB (hot catalog)
  const ruWrite = n.metadataKb * L.cosmosRuPerKbWrite;
  const ruRead = n.metadataKb * L.cosmosRuPerKbRead;
  const ruMonth =
    writes * R * ruWrite +
    writes * n.cosmosReadsPerWrite * ruRead +
    missesBy.hot * ruRead +
    hotToWarm * R * ruWrite;
  add(
    'cosmos',
    'hot',
    'storage',
    'Catalog documents (hot twins)',
    gb(twinsBy.hot * n.metadataKb) * R,
    'cosmos.storage',
  );
  let provisionedRuPerSecond = 0;
  if (n.cosmosMode === 'serverless') {
    add(
      'cosmos',
      'hot',
      'operations',
      'Request units (serverless)',
      ruMonth / 1e6,
      'cosmos.serverless.perMillionRu',
    );
  } else {
    const avgRuPerSecond = ruMonth / R / (hours * 3600);
    provisionedRuPerSecond = Math.max(
      L.cosmosMinProvisionedRuPerSecond,
      Math.ceil((avgRuPerSecond * n.cosmosPeakFactor) / 100) * 100,
    );
    const key: PriceKey =
      n.cosmosMode === 'provisioned'
        ? 'cosmos.provisioned.per100RuSecondHour'
        : 'cosmos.autoscale.per100RuSecondHour';
    add(
      'cosmos',
      'hot',
      'capacity',
      `Provisioned throughput ${provisionedRuPerSecond} RU/s (${n.cosmosMode})`,
      (provisionedRuPerSecond / 100) * hours * R,
      key,
    );
  }

  // ---- Table storage (warm records + activity bookkeeping)
  add('table', 'warm', 'storage', 'Warm entities', gb(twinsBy.warm * n.metadataKb) * R, 'table.storage');
  add(
    'table',
    'hot',
    'storage',
    'Activity records (hot twins)',
    gb(twinsBy.hot * n.metadataKb) * R,
    'table.storage',
  );
  add(
    'table',
    'cold',
    'storage',
    'Activity records (cold twins)',
    gb(twinsBy.cold * n.metadataKb) * R,
    'table.storage',
  );
  add(
    'table',
    'hot',
    'operations',
    'Activity upserts on writes and hot reads',
    per10k(2 * writes * R + readsBy.hot),
    'table.transactions',
  );
  add(
    'table',
    'warm',
    'operations',
    'Warm reads and their access records',
    per10k(missesBy.warm + readsBy.warm),
    'table.transactions',
  );
  add('table', 'warm', 'operations', 'Hot->warm inserts', per10k(hotToWarm * R), 'table.transactions');
  add(
    'table',
    'cold',
    'operations',
    'Warm->cold moves and cold access records',
    per10k(warmToCold * R + readsBy.cold),
    'table.transactions',
  );

  // ---- AI Search
  const indexGb = gb(n.twins * n.avgKb * n.searchIndexRatio);
  const sku =
    n.searchSku ??
    SEARCH_SKUS.find((s) => indexGb <= L.searchPartitionGb[s] * L.searchMaxPartitions[s]) ??
    's2';
  const partitions = Math.max(1, Math.ceil(indexGb / L.searchPartitionGb[sku]));
  const searchFits = partitions <= L.searchMaxPartitions[sku];
  const units = partitions * n.searchReplicas;
  add(
    'search',
    'shared',
    'capacity',
    `${sku.toUpperCase()} x ${units} unit(s) (${n.searchReplicas} replica x ${partitions} partition)`,
    units * hours * R,
    `search.${sku}.unitHour`,
  );

  // ---- Service Bus
  const events = writes + hotToWarm + warmToCold + missesBy.cold;
  const sbOpsPerRegion = events * (1 + 2 * n.subscriptions);
  add('serviceBus', 'shared', 'capacity', 'Standard namespace', hours * R, 'servicebus.standard.baseHour');
  const sbMillions = sbOpsPerRegion / 1e6;
  const sbUsd = graduatedCost(P['servicebus.standard.operations'], sbMillions) * R;
  add(
    'serviceBus',
    'shared',
    'operations',
    `Operations (first ${L.serviceBusIncludedOperationsPerMonth / 1e6}M included)`,
    sbMillions * R,
    'servicebus.standard.operations',
    sbMillions > 0 ? sbUsd / (sbMillions * R) : 0,
    sbUsd,
  );

  // ---- Redis
  const workingSetKb =
    ((n.readsPerDay * n.readShare.hot + n.writesPerDay) / 24 + (n.readsPerDay * n.readShare.warm) / 288) *
    n.avgKb *
    1.5;
  const workingSetGb = gb(workingSetKb);
  const redisSku = n.redisSku ?? REDIS_SKUS.find((s) => L.redisMemoryGb[s] >= workingSetGb) ?? 'c5';
  add(
    'redis',
    'shared',
    'capacity',
    `Standard ${redisSku.toUpperCase()} (${L.redisMemoryGb[redisSku]} GB)`,
    hours * R,
    `redis.standard.${redisSku}.hour`,
  );

  // ---- Bandwidth
  add(
    'bandwidth',
    'shared',
    'transfer',
    'Inter-region replication of writes',
    gb(writes * (n.avgKb + 2 * n.metadataKb)) * (R - 1),
    'bandwidth.interregion',
  );
  const egressGb = Math.max(0, gb(reads * n.avgKb * n.egressShare) - L.bandwidthFreeEgressGbPerMonth);
  add(
    'bandwidth',
    'shared',
    'transfer',
    `Internet egress above ${L.bandwidthFreeEgressGbPerMonth} GB`,
    egressGb,
    'bandwidth.internet.egress',
  );

  // ---- Totals
  const zero = (): Subtotal => ({ storage: 0, operations: 0, capacity: 0, transfer: 0, total: 0 });
  const byService = Object.fromEntries(COST_SERVICES.map((s) => [s, zero()])) as Record<
    CostService,
    Subtotal
  >;
  const byTier = Object.fromEntries(COST_TIERS.map((t) => [t, zero()])) as Record<CostTier, Subtotal>;
  const byKind = Object.fromEntries(COST_KINDS.map((k) => [k, 0])) as Record<CostKind, number>;
  let totalCents = 0;
  for (const l of lines) {
    byService[l.service][l.kind] += l.cents;
    byService[l.service].total += l.cents;
    byTier[l.tier][l.kind] += l.cents;
    byTier[l.tier].total += l.cents;
    byKind[l.kind] += l.cents;
    totalCents += l.cents;
  }

  const assumptions = [
    `month = ${hours} h = ${round(days, 4)} days; GB = 1,048,576 KB; list prices ${prices.name} (${prices.region}, retrieved ${prices.retrieved})`,
    `Cosmos RU: ${L.cosmosRuPerKbWrite} RU per KB written, ${L.cosmosRuPerKbRead} RU per KB point-read, metadata ${n.metadataKb} KB`,
    `reads by tier ${pct(n.readShare.hot)}/${pct(n.readShare.warm)}/${pct(n.readShare.cold)} (hot/warm/cold); cache hit ${pct(n.cacheHitRatio.hot)}/${pct(n.cacheHitRatio.warm)}/${pct(n.cacheHitRatio.cold)}`,
    `cold reads rehydrate a bundle of ${n.bundleTwins} twins (${n.rehydratePriority} priority; standard takes up to 15 h)`,
    `early deletion: Cool ${L.blobEarlyDeletionDays.cool} d, Cold ${L.blobEarlyDeletionDays.cold} d, Archive ${L.blobEarlyDeletionDays.archive} d minimum; not charged because the layout does not delete earlier`,
  ];
  if (!searchFits) {
    assumptions.push(
      `WARNING: the index (${round(indexGb, 1)} GB) does not fit ${sku.toUpperCase()} (${L.searchMaxPartitions[sku]} x ${L.searchPartitionGb[sku]} GB)`,
    );
  }

  return {
    input: n,
    prices: {
      name: prices.name,
      region: prices.region,
      retrieved: prices.retrieved,
      currency: prices.currency,
    },
    quantities: {
      daysPerMonth: round(days, 4),
      writesPerMonth: round(writes, 2),
      readsPerMonth: round(reads, 2),
      searchesPerMonth: round(searches, 2),
      hotTwins: twinsBy.hot,
      warmTwins: twinsBy.warm,
      coldTwins: twinsBy.cold,
      contentGbTotal: round(gb(n.twins * n.avgKb * n.versionsPerTwin), 4),
      imageGbTotal: round(gb(n.twins * n.imagesPerTwin * n.avgImageKb), 4),
      hotToWarmMovesPerMonth: round(hotToWarm, 2),
      warmToColdMovesPerMonth: round(warmToCold, 2),
      cosmosRuPerMonth: round(ruMonth, 0),
      cosmosProvisionedRuPerSecond: provisionedRuPerSecond,
      serviceBusOperationsPerMonth: round(sbOpsPerRegion * R, 0),
      searchIndexGb: round(indexGb, 4),
      searchSku: sku,
      searchUnits: units,
      redisWorkingSetGb: round(workingSetGb, 4),
      redisSku,
    },
    lines,
    byService,
    byTier,
    byKind,
    totalCents,
    assumptions,
  };
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
function pct(v: number): string {
  return `${round(v * 100, 2)}%`;
}

/** Formats cents as dollars with thousands separators: 123456 -> "1,234.56". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const dollars = Math.floor(abs / 100).toLocaleString('en-US');
  return `${sign}${dollars}.${String(abs % 100).padStart(2, '0')}`;
}
