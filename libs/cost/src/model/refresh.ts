import { PRICE_KEYS, PriceEntry, PriceKey, PriceTable, validatePriceTable } from './prices';

/**
 * Refreshes the price table from the public Azure Retail Prices API
 * (https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices):
 * unauthenticated GET, OData `$filter`, pages of up to 1,000 items linked by `NextPageLink`.
 *
 * The filter is built only from fixed allow-lists (service names below, regions in KNOWN_REGIONS);
 * nothing the user types is pasted into it. Each table entry names the meter it comes from
 * (`meter`: serviceName, productName, skuName, meterName, unitOfMeasure); entries whose meter is not
 * in the response keep their old value and date and are reported as missing.
 */

export const RETAIL_PRICES_API = 'https://prices.azure.com/api/retail/prices';

/** ARM region names the refresh accepts (the API's `armRegionName`). */
export const KNOWN_REGIONS = [
  'eastus',
  'eastus2',
  'centralus',
  'northcentralus',
  'southcentralus',
  'westcentralus',
  'westus',
  'westus2',
  'westus3',
  'canadacentral',
  'canadaeast',
  'brazilsouth',
  'northeurope',
  'westeurope',
  'uksouth',
  'ukwest',
  'francecentral',
  'germanywestcentral',
  'switzerlandnorth',
  'norwayeast',
  'swedencentral',
  'polandcentral',
  'italynorth',
  'australiaeast',
  'australiasoutheast',
  'japaneast',
  'japanwest',
  'koreacentral',
  'southeastasia',
  'eastasia',
  'centralindia',
  'southindia',
  'uaenorth',
  'southafricanorth',
] as const;
export type KnownRegion = (typeof KNOWN_REGIONS)[number];

/** The services queried, one request chain each (the API's `serviceName`). */
export const REFRESH_SERVICES = [
  'Storage',
  'Azure Cosmos DB',
  'Azure Cognitive Search',
  'Service Bus',
  'Redis Cache',
] as const;
export type RefreshService = (typeof REFRESH_SERVICES)[number];

/** One item of the API's `Items` (field names as the API sends them). */
export interface RetailPriceItem {
  currencyCode: string;
  tierMinimumUnits: number;
  retailPrice: number;
  unitPrice: number;
  armRegionName: string;
  location: string;
  effectiveStartDate: string;
  meterId: string;
  meterName: string;
  productId: string;
  skuId: string;
  productName: string;
  skuName: string;
  serviceName: string;
  serviceId: string;
  serviceFamily: string;
  unitOfMeasure: string;
  type: string;
  isPrimaryMeterRegion?: boolean;
  armSkuName?: string;
}

/** One page of the API's answer. */
export interface RetailPricesPage {
  BillingCurrency?: string;
  CustomerEntityId?: string;
  CustomerEntityType?: string;
  Items: RetailPriceItem[];
  NextPageLink: string | null;
  Count: number;
}

export class PriceRefreshError extends Error {
  override readonly name = 'PriceRefreshError';
}

export function isKnownRegion(region: string): region is KnownRegion {
  return (KNOWN_REGIONS as readonly string[]).includes(region);
}

/** The `$filter` for one service in one region: fixed shape, values from the allow-lists only. */
export function retailPricesFilter(service: RefreshService, region: string): string {
  if (!(REFRESH_SERVICES as readonly string[]).includes(service)) {
    throw new PriceRefreshError(`service not in the allow-list: ${JSON.stringify(service)}`);
  }
  if (!isKnownRegion(region)) {
    throw new PriceRefreshError(
      `unknown region ${JSON.stringify(region)}; known: ${KNOWN_REGIONS.join(', ')}`,
    );
  }
  return `serviceName eq '${service}' and armRegionName eq '${region}' and priceType eq 'Consumption'`;
}

export type FetchLike = (url: string) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

export interface FetchRetailPricesOptions {
  /** Default RETAIL_PRICES_API; tests point it at a local server. NextPageLinks must stay on it. */
  apiUrl?: string;
  fetch?: FetchLike;
  /** Safety stop (default 200 pages per service). */
  maxPages?: number;
}

/** All items for a filter, following NextPageLink (same origin and path as apiUrl only). */
export async function fetchRetailPrices(
  filter: string,
  options: FetchRetailPricesOptions = {},
): Promise<{ items: RetailPriceItem[]; requests: number }> {
  const api = new URL(options.apiUrl ?? RETAIL_PRICES_API);
  if (api.protocol !== 'https:' && api.protocol !== 'http:') {
    throw new PriceRefreshError(`unsupported API URL ${api.href}`);
  }
  const doFetch: FetchLike = options.fetch ?? ((url) => fetch(url));
  const maxPages = options.maxPages ?? 200;
  const first = new URL(api.href);
  first.searchParams.set('$filter', filter);
  let next: string | null = first.href;
  const items: RetailPriceItem[] = [];
  let requests = 0;
  while (next) {
    if (requests >= maxPages) throw new PriceRefreshError(`more than ${maxPages} pages for ${filter}`);
    const url = new URL(next);
    if (url.origin !== api.origin || url.pathname !== api.pathname) {
      throw new PriceRefreshError(`NextPageLink leaves the API (${url.origin}${url.pathname})`);
    }
    const response = await doFetch(url.href);
    requests++;
    if (!response.ok) throw new PriceRefreshError(`${url.origin}${url.pathname} answered ${response.status}`);
    const page = (await response.json()) as Partial<RetailPricesPage>;
    if (!Array.isArray(page.Items)) throw new PriceRefreshError('response has no Items array');
    items.push(...page.Items);
    next = typeof page.NextPageLink === 'string' && page.NextPageLink.length > 0 ? page.NextPageLink : null;
  }
  return { items, requests };
}

export interface PriceChange {
  key: PriceKey;
  before: number;
  after: number;
  meterId: string;
}

export interface ApplyResultSummary {
  table: PriceTable;
  updated: PriceChange[];
  /** Keys whose meter was not in the response (value and date kept). */
  missing: PriceKey[];
}

/** Maps API items onto the table's entries by their `meter`; returns a new table. */
export function applyRetailPrices(
  base: PriceTable,
  items: readonly RetailPriceItem[],
  options: { region: string; retrieved: string; sourceUrl: string },
): ApplyResultSummary {
  const table: PriceTable = structuredClone(base);
  table.region = options.region;
  table.retrieved = options.retrieved;
  table.name = `azure-${options.region}-${options.retrieved}`;
  const updated: PriceChange[] = [];
  const missing: PriceKey[] = [];
  for (const key of PRICE_KEYS) {
    const entry: PriceEntry = table.prices[key];
    const m = entry.meter;
    const matches = m
      ? items.filter(
          (i) =>
            i.type === 'Consumption' &&
            i.currencyCode === 'USD' &&
            i.armRegionName === options.region &&
            i.serviceName === m.serviceName &&
            i.productName === m.productName &&
            i.skuName === m.skuName &&
            i.meterName === m.meterName &&
            i.unitOfMeasure === m.unitOfMeasure,
        )
      : [];
    if (matches.length === 0) {
      missing.push(key);
      continue;
    }
    // Several items per meter: graduated tiers (tierMinimumUnits) and, over time, effective dates.
    const byTier = new Map<number, RetailPriceItem>();
    for (const item of matches) {
      const seen = byTier.get(item.tierMinimumUnits);
      if (!seen || item.effectiveStartDate > seen.effectiveStartDate) byTier.set(item.tierMinimumUnits, item);
    }
    const tiers = [...byTier.values()].sort((a, b) => a.tierMinimumUnits - b.tierMinimumUnits);
    const before = entry.usd;
    if (entry.tiers && tiers.length > 1) {
      entry.tiers = tiers.map((i) => ({ fromUnits: i.tierMinimumUnits, usd: i.retailPrice }));
      entry.usd = tiers.find((i) => i.retailPrice > 0)?.retailPrice ?? 0;
    } else {
      entry.usd = tiers[0].retailPrice;
    }
    entry.source = options.sourceUrl;
    entry.retrieved = options.retrieved;
    entry.note = `Azure Retail Prices API, meterId ${tiers[0].meterId}, effective ${tiers[0].effectiveStartDate.slice(0, 10)}`;
    updated.push({ key, before, after: entry.usd, meterId: tiers[0].meterId });
  }
  return { table: validatePriceTable(table, 'refreshed price table'), updated, missing };
}

export interface RefreshOptions extends FetchRetailPricesOptions {
  region: string;
  /** Date stamped on refreshed entries; default today (UTC). */
  now?: Date;
}

/** Fetches every allow-listed service for the region and applies the prices to `base`. */
export async function refreshPriceTable(
  base: PriceTable,
  options: RefreshOptions,
): Promise<ApplyResultSummary & { requests: number; items: number }> {
  if (!isKnownRegion(options.region)) {
    throw new PriceRefreshError(
      `unknown region ${JSON.stringify(options.region)}; known: ${KNOWN_REGIONS.join(', ')}`,
    );
  }
  const items: RetailPriceItem[] = [];
  let requests = 0;
  for (const service of REFRESH_SERVICES) {
    const result = await fetchRetailPrices(retailPricesFilter(service, options.region), options);
    items.push(...result.items);
    requests += result.requests;
  }
  const retrieved = (options.now ?? new Date()).toISOString().slice(0, 10);
  const sourceUrl = `${RETAIL_PRICES_API}?$filter=armRegionName eq '${options.region}'`;
  const applied = applyRetailPrices(base, items, { region: options.region, retrieved, sourceUrl });
  return { ...applied, requests, items: items.length };
}
