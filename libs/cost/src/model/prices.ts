import { readFileSync } from 'node:fs';
import { z } from 'zod';
import defaultTableJson from './prices/azure-2026-11.json';

/**
 * The price table: every price the cost model uses, dated and sourced, in one JSON file
 * (`prices/azure-2026-11.json`). Prices are list (pay-as-you-go) USD for one region.
 * `loadPriceTable(path)` reads an override: a full table, or a partial one whose `prices`
 * entries replace the default entries with the same key (the rest of the default stays).
 */

export const BLOB_TIERS = ['hot', 'cool', 'cold', 'archive'] as const;
export type BlobTier = (typeof BLOB_TIERS)[number];
export const BLOB_OPERATION_CLASSES = ['write', 'read', 'list', 'other'] as const;
export type BlobOperationClass = (typeof BLOB_OPERATION_CLASSES)[number];
export const SEARCH_SKUS = ['basic', 's1', 's2'] as const;
export type SearchSku = (typeof SEARCH_SKUS)[number];
export const REDIS_SKUS = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'] as const;
export type RedisSku = (typeof REDIS_SKUS)[number];

/** Every key a complete table must define. */
export const PRICE_KEYS = [
  ...BLOB_TIERS.map((t) => `blob.storage.${t}` as const),
  ...BLOB_TIERS.flatMap((t) => BLOB_OPERATION_CLASSES.map((c) => `blob.ops.${t}.${c}` as const)),
  'blob.retrieval.cool',
  'blob.retrieval.cold',
  'blob.retrieval.archive',
  'blob.rehydrate.high.read',
  'blob.rehydrate.high.retrieval',
  'cosmos.serverless.perMillionRu',
  'cosmos.provisioned.per100RuSecondHour',
  'cosmos.autoscale.per100RuSecondHour',
  'cosmos.storage',
  'table.storage',
  'table.transactions',
  ...SEARCH_SKUS.map((s) => `search.${s}.unitHour` as const),
  'servicebus.standard.baseHour',
  'servicebus.standard.operations',
  ...REDIS_SKUS.map((s) => `redis.standard.${s}.hour` as const),
  'bandwidth.internet.egress',
  'bandwidth.interregion',
] as const;
export type PriceKey = (typeof PRICE_KEYS)[number];

/** Which Azure Retail Prices API item a price comes from (used by `twins cost prices refresh`). */
export interface MeterMatch {
  serviceName: string;
  productName: string;
  skuName: string;
  meterName: string;
  /** The API's `unitOfMeasure` the table's unit corresponds to; an item with another unit is not used. */
  unitOfMeasure: string;
}

/** Graduated pricing: `usd` applies to units from `fromUnits` up to the next tier's `fromUnits`. */
export interface PriceTier {
  fromUnits: number;
  usd: number;
}

export interface PriceEntry {
  /** USD per `unit`. */
  usd: number;
  unit: string;
  /** Where the value comes from (URL or document). */
  source: string;
  /** ISO date the value was read from `source`. */
  retrieved: string;
  note?: string;
  tiers?: PriceTier[];
  meter?: MeterMatch;
}

export interface PriceLimits {
  source: string;
  retrieved: string;
  /** Minimum days a blob is billed in a tier (early deletion); hot 0. */
  blobEarlyDeletionDays: Record<BlobTier, number>;
  /** RU per KB for a point read (FACTS.md: 1 KB point read = 1 RU). */
  cosmosRuPerKbRead: number;
  /** RU per KB for an insert/upsert (FACTS.md: 1 KB insert ~5.5 RU). */
  cosmosRuPerKbWrite: number;
  cosmosMinProvisionedRuPerSecond: number;
  serviceBusIncludedOperationsPerMonth: number;
  bandwidthFreeEgressGbPerMonth: number;
  /** Index storage per partition, GB. */
  searchPartitionGb: Record<SearchSku, number>;
  searchMaxPartitions: Record<SearchSku, number>;
  redisMemoryGb: Record<RedisSku, number>;
}

export interface PriceTable {
  schema: 'twinstore.prices/v1';
  name: string;
  currency: 'USD';
  /** ARM region name, e.g. `eastus`. */
  region: string;
  /** Date of the table as a whole (entries carry their own). */
  retrieved: string;
  description?: string;
  /** Hours billed per month (Azure uses 730). */
  hoursPerMonth: number;
  limits: PriceLimits;
  prices: Record<PriceKey, PriceEntry>;
}

const meterSchema = z.object({
  serviceName: z.string(),
  productName: z.string(),
  skuName: z.string(),
  meterName: z.string(),
  unitOfMeasure: z.string(),
});
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}/, 'an ISO date (YYYY-MM-DD)');
const entrySchema = z.object({
  usd: z.number().finite().nonnegative(),
  unit: z.string().min(1),
  source: z.string().min(1),
  retrieved: isoDate,
  note: z.string().optional(),
  tiers: z
    .array(z.object({ fromUnits: z.number().nonnegative(), usd: z.number().finite().nonnegative() }))
    .optional(),
  meter: meterSchema.optional(),
});
const tierRecord = z.object({ hot: z.number(), cool: z.number(), cold: z.number(), archive: z.number() });
const searchRecord = z.object({ basic: z.number(), s1: z.number(), s2: z.number() });
const limitsSchema = z.object({
  source: z.string(),
  retrieved: isoDate,
  blobEarlyDeletionDays: tierRecord,
  cosmosRuPerKbRead: z.number().positive(),
  cosmosRuPerKbWrite: z.number().positive(),
  cosmosMinProvisionedRuPerSecond: z.number().positive(),
  serviceBusIncludedOperationsPerMonth: z.number().nonnegative(),
  bandwidthFreeEgressGbPerMonth: z.number().nonnegative(),
  searchPartitionGb: searchRecord,
  searchMaxPartitions: searchRecord,
  redisMemoryGb: z.object({
    c0: z.number(),
    c1: z.number(),
    c2: z.number(),
    c3: z.number(),
    c4: z.number(),
    c5: z.number(),
  }),
});
const tableSchema = z.object({
  schema: z.literal('twinstore.prices/v1'),
  name: z.string().min(1),
  currency: z.literal('USD'),
  region: z.string().regex(/^[a-z0-9]+$/),
  retrieved: isoDate,
  description: z.string().optional(),
  hoursPerMonth: z.number().positive(),
  limits: limitsSchema,
  prices: z.record(z.string(), entrySchema),
});

export class PriceTableError extends Error {
  override readonly name = 'PriceTableError';
}

/** Checks a parsed table: shape, USD, and that every `PriceKey` is present. */
export function validatePriceTable(value: unknown, origin = 'price table'): PriceTable {
  const parsed = tableSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PriceTableError(`${origin}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const missing = PRICE_KEYS.filter((k) => !(k in parsed.data.prices));
  if (missing.length > 0) throw new PriceTableError(`${origin}: missing prices ${missing.join(', ')}`);
  const unknown = Object.keys(parsed.data.prices).filter(
    (k) => !(PRICE_KEYS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) throw new PriceTableError(`${origin}: unknown price keys ${unknown.join(', ')}`);
  return parsed.data as PriceTable;
}

/** The bundled table (a fresh copy each call, so callers may mutate it). */
export function defaultPriceTable(): PriceTable {
  return validatePriceTable(structuredClone(defaultTableJson), 'bundled price table');
}

/**
 * Loads the price table. Without a path: the bundled dated table. With a path: that JSON file,
 * either a complete table or a partial override (`{ "prices": { "blob.storage.hot": {...} } }`,
 * optionally `limits`, `region`, `name`, `retrieved`) merged over the bundled one.
 */
export function loadPriceTable(overridePath?: string): PriceTable {
  const base = defaultPriceTable();
  if (!overridePath) return base;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(overridePath, 'utf8'));
  } catch (error) {
    throw new PriceTableError(`cannot read price table ${overridePath}: ${(error as Error).message}`);
  }
  return mergePriceTable(base, raw, overridePath);
}

/** Merges a (partial) override over a base table and validates the result. */
export function mergePriceTable(base: PriceTable, override: unknown, origin = 'price override'): PriceTable {
  if (typeof override !== 'object' || override === null || Array.isArray(override)) {
    throw new PriceTableError(`${origin}: expected a JSON object`);
  }
  const o = override as Partial<Record<keyof PriceTable, unknown>>;
  const merged = {
    ...base,
    ...o,
    limits: { ...base.limits, ...(isObject(o.limits) ? o.limits : {}) },
    prices: { ...base.prices, ...(isObject(o.prices) ? o.prices : {}) },
  };
  return validatePriceTable(merged, origin);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** USD per unit of a price key. */
export function price(table: PriceTable, key: PriceKey): number {
  return table.prices[key].usd;
}

/**
 * Cost in USD of `units` of a graduated price (e.g. Service Bus operations in millions a month).
 * Without tiers: units x usd.
 */
export function graduatedCost(entry: PriceEntry, units: number): number {
  if (!entry.tiers || entry.tiers.length === 0) return units * entry.usd;
  const tiers = [...entry.tiers].sort((a, b) => a.fromUnits - b.fromUnits);
  let cost = 0;
  for (let i = 0; i < tiers.length; i++) {
    const from = tiers[i].fromUnits;
    const to = i + 1 < tiers.length ? tiers[i + 1].fromUnits : Infinity;
    if (units <= from) break;
    cost += (Math.min(units, to) - from) * tiers[i].usd;
  }
  return cost;
}
