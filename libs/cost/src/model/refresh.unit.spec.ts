import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchRetailPrices,
  loadPriceTable,
  PriceRefreshError,
  refreshPriceTable,
  REFRESH_SERVICES,
  retailPricesFilter,
} from './index';

const FIXTURES = join(__dirname, '__fixtures__', 'retail-prices');
const FILE_OF: Record<string, string> = {
  Storage: 'storage',
  'Azure Cosmos DB': 'cosmos',
  'Azure Cognitive Search': 'search',
  'Service Bus': 'servicebus',
  'Redis Cache': 'redis',
};

/** Replays the recorded pages; NextPageLink is rewritten to this server, as a replay of the API would. */
function startRetailPricesServer(): Promise<{ server: Server; url: string; filters: string[] }> {
  const filters: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const filter = url.searchParams.get('$filter') ?? '';
    filters.push(filter);
    const service =
      /^serviceName eq '([^']+)' and armRegionName eq 'eastus' and priceType eq 'Consumption'$/.exec(
        filter,
      )?.[1];
    const file = service && FILE_OF[service];
    if (url.pathname !== '/api/retail/prices' || !file) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end('{"Items":[],"NextPageLink":null,"Count":0}');
      return;
    }
    const page = url.searchParams.get('$skip') ? 2 : 1;
    const body = readFileSync(join(FIXTURES, `${file}.page${page}.json`), 'utf8').replace(
      /https:\/\/prices\.azure\.com/g,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        filters,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/retail/prices`,
      }),
    ),
  );
}

describe('price refresh from the Azure Retail Prices API (recorded response)', () => {
  let api: Awaited<ReturnType<typeof startRetailPricesServer>>;
  beforeAll(async () => {
    api = await startRetailPricesServer();
  });
  afterAll(() => new Promise<void>((r) => api.server.close(() => r())));

  it('pages through NextPageLink and maps meters onto the table', async () => {
    const base = loadPriceTable();
    const result = await refreshPriceTable(base, {
      region: 'eastus',
      apiUrl: api.url,
      now: new Date('2026-11-29T12:00:00Z'),
    });
    // storage has two pages, the four other services one each
    expect(result.requests).toBe(6);
    // page 2 of Storage repeats its filter (NextPageLink adds $skip)
    expect(api.filters.slice(-6)).toEqual(
      ['Storage', 'Storage', 'Azure Cosmos DB', 'Azure Cognitive Search', 'Service Bus', 'Redis Cache'].map(
        (s) => retailPricesFilter(s as (typeof REFRESH_SERVICES)[number], 'eastus'),
      ),
    );
    const t = result.table;
    expect(t.prices['blob.storage.hot'].usd).toBe(0.0208);
    expect(t.prices['blob.ops.hot.write'].usd).toBe(0.065);
    expect(t.prices['search.basic.unitHour'].usd).toBe(0.101);
    // the GRS meter and the reservation price are noise, not matches
    expect(t.prices['cosmos.provisioned.per100RuSecondHour'].usd).toBe(0.008);
    expect(t.prices['blob.storage.hot'].retrieved).toBe('2026-11-29');
    expect(t.prices['blob.storage.hot'].source).toContain('prices.azure.com/api/retail/prices');
    expect(t.prices['blob.storage.hot'].note).toMatch(/meterId [0-9a-f-]{36}/);
    expect(t.prices['servicebus.standard.operations'].tiers).toEqual([
      { fromUnits: 0, usd: 0 },
      { fromUnits: 13, usd: 0.8 },
      { fromUnits: 100, usd: 0.5 },
      { fromUnits: 2500, usd: 0.2 },
    ]);
    expect(
      result.updated
        .filter((c) => c.before !== c.after)
        .map((c) => c.key)
        .sort(),
    ).toEqual(['blob.ops.hot.write', 'blob.storage.hot', 'search.basic.unitHour']);
    // not in the response: kept with their old value and date
    expect(result.missing).toEqual([
      'redis.standard.c5.hour',
      'bandwidth.internet.egress',
      'bandwidth.interregion',
    ]);
    expect(t.prices['redis.standard.c5.hour']).toEqual(base.prices['redis.standard.c5.hour']);
    expect(t.region).toBe('eastus');
    expect(t.retrieved).toBe('2026-11-29');
  });

  it('builds the filter from allow-lists only', () => {
    expect(retailPricesFilter('Service Bus', 'westeurope')).toBe(
      "serviceName eq 'Service Bus' and armRegionName eq 'westeurope' and priceType eq 'Consumption'",
    );
    expect(() => retailPricesFilter('Storage', "eastus' or serviceName eq 'x")).toThrow(PriceRefreshError);
    expect(() => retailPricesFilter('Virtual Machines' as never, 'eastus')).toThrow(/allow-list/);
    return expect(refreshPriceTable(loadPriceTable(), { region: 'mars', apiUrl: api.url })).rejects.toThrow(
      /unknown region "mars"/,
    );
  });

  it('refuses a NextPageLink that leaves the API', async () => {
    const fetch = async () => ({
      ok: true,
      status: 200,
      json: async () => ({
        Items: [],
        NextPageLink: 'https://evil.example/api/retail/prices?$skip=100',
        Count: 0,
      }),
    });
    await expect(fetchRetailPrices(retailPricesFilter('Storage', 'eastus'), { fetch })).rejects.toThrow(
      /leaves the API/,
    );
  });
});
