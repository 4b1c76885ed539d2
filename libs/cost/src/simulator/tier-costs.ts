import { defaultPriceTable, PriceTable } from '../model/prices';

/**
 * The per-tier prices the simulator needs, in plain numbers (USD). `simPricesFromTable()` reads them from the
 * cost model's dated price table, so the simulator and `twins cost` never disagree on a price.
 *
 * Tiers of a twin (ADR 0007):
 * - hot  (0): metadata record in the Cosmos catalog, blobs in the Hot blob tier;
 * - warm (1): metadata entity in Table storage, blobs in the Cool blob tier (30-day minimum);
 * - cold (2): blobs packed into Archive bundles (180-day minimum), no catalog or table record.
 */
export interface SimPrices {
  /** Days in a billing month (Azure bills 730 hours a month: 30.42 days). */
  daysPerMonth: number;
  blob: Record<'hot' | 'cool' | 'archive', BlobTierPrices>;
  cosmos: {
    /** USD per request unit (serverless: per-million price / 1e6). */
    perRu: number;
    storageGbMonth: number;
    ruPerKbRead: number;
    ruPerKbWrite: number;
  };
  table: { storageGbMonth: number; perTransaction: number };
  /** Where the numbers come from (table name and date). */
  source: string;
}

export interface BlobTierPrices {
  storageGbMonth: number;
  perWrite: number;
  perRead: number;
  /** Data retrieval, per GB read out of the tier (0 for Hot). */
  retrievalPerGb: number;
  /** Minimum days billed in the tier (early-deletion charge for leaving sooner). */
  minStayDays: number;
}

/** Adapter from the cost model's price table (libs/cost/src/model/prices.ts). */
export function simPricesFromTable(table: PriceTable = defaultPriceTable()): SimPrices {
  const p = (key: keyof PriceTable['prices']) => table.prices[key].usd;
  const per10k = (key: keyof PriceTable['prices']) => p(key) / 10_000;
  const early = table.limits.blobEarlyDeletionDays;
  return {
    daysPerMonth: table.hoursPerMonth / 24,
    blob: {
      hot: {
        storageGbMonth: p('blob.storage.hot'),
        perWrite: per10k('blob.ops.hot.write'),
        perRead: per10k('blob.ops.hot.read'),
        retrievalPerGb: 0,
        minStayDays: early.hot,
      },
      cool: {
        storageGbMonth: p('blob.storage.cool'),
        perWrite: per10k('blob.ops.cool.write'),
        perRead: per10k('blob.ops.cool.read'),
        retrievalPerGb: p('blob.retrieval.cool'),
        minStayDays: early.cool,
      },
      archive: {
        storageGbMonth: p('blob.storage.archive'),
        perWrite: per10k('blob.ops.archive.write'),
        perRead: per10k('blob.ops.archive.read'),
        retrievalPerGb: p('blob.retrieval.archive'),
        minStayDays: early.archive,
      },
    },
    cosmos: {
      perRu: p('cosmos.serverless.perMillionRu') / 1e6,
      storageGbMonth: p('cosmos.storage'),
      ruPerKbRead: table.limits.cosmosRuPerKbRead,
      ruPerKbWrite: table.limits.cosmosRuPerKbWrite,
    },
    table: { storageGbMonth: p('table.storage'), perTransaction: per10k('table.transactions') },
    source: `${table.name} (${table.region}, retrieved ${table.retrieved})`,
  };
}

export const HOT = 0;
export const WARM = 1;
export const COLD = 2;
export type TierIndex = 0 | 1 | 2;
export const TIER_NAMES = ['hot', 'warm', 'cold'] as const;

/**
 * Everything a policy and the accounting need about one twin, in USD, derived from its sizes and the prices.
 * Arrays are indexed by tier (0 hot, 1 warm, 2 cold); `transition` by `from * 3 + to`.
 */
export interface TierCosts {
  /** Storage per day in each tier, all parts (catalog/table record and blobs). */
  storagePerDay: Float64Array;
  /** The blob part of `storagePerDay`: the part subject to the tier's minimum stay. */
  blobStoragePerDay: Float64Array;
  /** Minimum stay in days; leaving after k < min days costs (min - k) x blobStoragePerDay. */
  minStayDays: Int32Array;
  /** One read of the twin served in the tier (for cold: a rehydration per read). */
  read: Float64Array;
  /** One write (new version) served in the tier. */
  write: Float64Array;
  /** Moving the twin between tiers (from * 3 + to); 0 on the diagonal. */
  transition: Float64Array;
}

/** What the sizes of one twin are, for pricing. */
export interface TwinSize {
  /** Markdown (the part a read fetches). */
  markdownBytes: number;
  /** Persona images, all sizes together (moved with the twin, not fetched by a twin read). */
  imageBytes: number;
  /** Number of image blobs (0 or 3: thumbnail, medium, full). */
  imageBlobs: number;
  /** Catalog (Cosmos) / table record. */
  metadataBytes: number;
}

export interface CostOptions {
  /**
   * Size of an Archive bundle. A blob in Archive cannot be read in place: reading one twin rehydrates (copies
   * out) its whole bundle, so a cold read pays retrieval on the bundle, and a twin's share of the bundle write
   * is its bytes / bundle bytes. Default: 1,000 twins of 10 KB (`TWINS_TIER_BUNDLE_MAX_TWINS` defaults to
   * 1000, ADR 0007), 10,240,000 bytes.
   */
  bundleBytes?: number;
}

export const DEFAULT_BUNDLE_BYTES = 1000 * 10 * 1024;
const GIB = 1024 ** 3;

/** Per-twin tier costs. GB = 2^30 bytes, as Azure bills storage. */
export function tierCosts(prices: SimPrices, size: TwinSize, options: CostOptions = {}): TierCosts {
  return tierCostsInto(emptyTierCosts(), prices, size, options);
}

export function emptyTierCosts(): TierCosts {
  return {
    storagePerDay: new Float64Array(3),
    blobStoragePerDay: new Float64Array(3),
    minStayDays: new Int32Array(3),
    read: new Float64Array(3),
    write: new Float64Array(3),
    transition: new Float64Array(9),
  };
}

/** `tierCosts` into existing arrays (no allocation: the simulator prices a million twins). */
export function tierCostsInto(
  out: TierCosts,
  prices: SimPrices,
  size: TwinSize,
  options: CostOptions = {},
): TierCosts {
  const bundleBytes = options.bundleBytes ?? DEFAULT_BUNDLE_BYTES;
  const { hot, cool, archive } = prices.blob;
  const c = prices.cosmos;
  const tx = prices.table.perTransaction;
  const blobBytes = size.markdownBytes + size.imageBytes;
  const blobs = 1 + size.imageBlobs;
  const gb = blobBytes / GIB;
  const metaKb = Math.max(1, Math.ceil(size.metadataBytes / 1024));
  const perDay = (gbMonth: number, bytes: number) => ((bytes / GIB) * gbMonth) / prices.daysPerMonth;

  const cosmosRead = metaKb * c.ruPerKbRead * c.perRu;
  const cosmosWrite = metaKb * c.ruPerKbWrite * c.perRu; // upsert; a delete is priced like a write
  const bundleShare = Math.min(1, blobBytes / bundleBytes) * archive.perWrite;
  // Rehydrating a bundle: one Archive read plus retrieval of the whole bundle (standard priority).
  const rehydrate = archive.perRead + (Math.max(bundleBytes, blobBytes) / GIB) * archive.retrievalPerGb;

  const { storagePerDay, blobStoragePerDay, minStayDays, read, write, transition } = out;
  blobStoragePerDay[HOT] = perDay(hot.storageGbMonth, blobBytes);
  blobStoragePerDay[WARM] = perDay(cool.storageGbMonth, blobBytes);
  blobStoragePerDay[COLD] = perDay(archive.storageGbMonth, blobBytes);
  storagePerDay[HOT] = blobStoragePerDay[HOT] + perDay(c.storageGbMonth, size.metadataBytes);
  storagePerDay[WARM] = blobStoragePerDay[WARM] + perDay(prices.table.storageGbMonth, size.metadataBytes);
  // A cold twin has no catalog or table record: the bundle carries its offset index.
  storagePerDay[COLD] = blobStoragePerDay[COLD];

  read[HOT] = cosmosRead + hot.perRead;
  read[WARM] = tx + cool.perRead + (size.markdownBytes / GIB) * cool.retrievalPerGb;
  // Served without promotion: rehydrate to a temporary Hot copy, read it, delete it.
  read[COLD] = rehydrate + hot.perWrite + hot.perRead;
  write[HOT] = cosmosWrite + hot.perWrite;
  write[WARM] = tx + cool.perWrite;
  // Staged as a Hot blob, packed into the next bundle.
  write[COLD] = hot.perWrite + hot.perRead + Math.min(1, size.markdownBytes / bundleBytes) * archive.perWrite;

  const set = (from: number, to: number, usd: number) => (transition[from * 3 + to] = usd);
  // Set Blob Tier to a cooler tier is billed as a write in the destination tier, to a warmer tier as a read
  // in the source tier plus retrieval.
  set(HOT, WARM, blobs * cool.perWrite + tx + cosmosWrite);
  set(WARM, HOT, blobs * cool.perRead + gb * cool.retrievalPerGb + cosmosWrite + tx);
  // Packing into a bundle: read the blobs, a share of the bundle write; the Hot blobs are then deleted (free).
  set(HOT, COLD, blobs * hot.perRead + bundleShare + cosmosWrite);
  set(COLD, HOT, rehydrate + blobs * hot.perWrite + cosmosWrite);
  set(WARM, COLD, blobs * cool.perRead + gb * cool.retrievalPerGb + bundleShare + tx);
  set(COLD, WARM, rehydrate + blobs * cool.perWrite + tx);

  minStayDays[HOT] = hot.minStayDays;
  minStayDays[WARM] = cool.minStayDays;
  minStayDays[COLD] = archive.minStayDays;
  return out;
}
