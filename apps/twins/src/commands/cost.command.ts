import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  CounterWindow,
  estimate,
  EstimateInput,
  EstimateInputError,
  formatEstimate,
  formatLiveCost,
  KNOWN_REGIONS,
  liveCost,
  loadPriceTable,
  parsePrometheusText,
  PRICE_KEYS,
  PriceRefreshError,
  PriceTableError,
  refreshPriceTable,
  REDIS_SKUS,
  RedisSku,
  SEARCH_SKUS,
  SearchSku,
  TierShare,
} from '@twinstore/cost';
import { runSimulate, SIMULATE_USAGE } from './cost-simulate.command';

/** Where a subcommand writes; tests pass buffers and a fetch that reaches their local server. */
export interface CostIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Used by `prices refresh` and `report`; default global fetch. */
  fetch?: (
    url: string,
    init?: { headers?: Record<string, string> },
  ) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; text(): Promise<string> }>;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

export interface CostSubcommand {
  usage: string;
  run(args: string[], io: CostIo): Promise<number>;
}

/** Bad flags: printed with the usage, exit code 2. */
export class CostUsageError extends Error {
  override readonly name = 'CostUsageError';
}

const ESTIMATE_USAGE = `cost estimate --twins N --avg-kb KB [--writes-per-day N] [--reads-per-day N] [--searches-per-day N]
      [--hot F --warm F --cold F] [--read-share H,W,C] [--cache-hit H,W,C] [--images-per-twin N] [--avg-image-kb KB]
      [--regions N] [--versions N] [--metadata-kb KB] [--subscriptions N] [--cosmos serverless|provisioned|autoscale]
      [--peak-factor F] [--search-sku basic|s1|s2] [--search-replicas N] [--index-ratio F] [--redis-sku c0..c5]
      [--bundle-twins N] [--rehydrate standard|high] [--egress-share F] [--prices FILE] [--json]
                                                monthly cost per service and per tier, storage and operations apart`;
const REPORT_USAGE = `cost report [--metrics-url URL]... [--interval SECONDS] [--metrics-file FILE --seconds S]...
      [--api-key KEY (default TWINS_API_KEY; when /metrics needs one)] [--prices FILE] [--json]
                                                live cost from the services' twins_billable_operations_total counters`;
const PRICES_USAGE = `cost prices show [--prices FILE] [--json]      the price table with sources and dates
  cost prices refresh [--region eastus] [--out FILE] [--prices FILE] [--api-url URL]
                                                fetch list prices from the Azure Retail Prices API into a new table`;

/** The `twins cost` subcommands, one entry each (usage line and handler). */
export const COST_SUBCOMMANDS: Record<string, CostSubcommand> = {
  estimate: { usage: ESTIMATE_USAGE, run: runEstimate },
  report: { usage: REPORT_USAGE, run: runReport },
  prices: { usage: PRICES_USAGE, run: runPrices },
  simulate: { usage: SIMULATE_USAGE, run: runSimulate },
};

export const COST_USAGE = Object.values(COST_SUBCOMMANDS)
  .map((s) => `  ${s.usage}`)
  .join('\n');

/** `twins cost <subcommand> ...`; returns the exit code. */
export async function costCommand(argv: string[], io: Partial<CostIo> = {}): Promise<number> {
  const full: CostIo = { out: io.out ?? process.stdout, err: io.err ?? process.stderr, ...io } as CostIo;
  const [name, ...rest] = argv;
  const sub = name ? COST_SUBCOMMANDS[name] : undefined;
  if (!sub) {
    full.err.write(
      `${name ? `unknown cost subcommand ${name}` : 'cost needs a subcommand'}\n\nusage:\n${COST_USAGE}\n`,
    );
    return 2;
  }
  try {
    return await sub.run(rest, full);
  } catch (e) {
    if (
      e instanceof CostUsageError ||
      e instanceof EstimateInputError ||
      e instanceof PriceTableError ||
      (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
    ) {
      full.err.write(`${e.message}\n\nusage:\n  ${sub.usage}\n`);
      return 2;
    }
    if (e instanceof PriceRefreshError) {
      full.err.write(`price refresh failed: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

// ---------------------------------------------------------------- estimate

function num(name: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new CostUsageError(`--${name} is required`);
    return fallback;
  }
  const n = Number(value.replace(/_/g, ''));
  if (value.trim() === '' || !Number.isFinite(n))
    throw new CostUsageError(`--${name} must be a number (got ${value})`);
  return n;
}

function triple(name: string, value: string | undefined): TierShare | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((p) => Number(p));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p))) {
    throw new CostUsageError(`--${name} takes three numbers hot,warm,cold (got ${value})`);
  }
  return { hot: parts[0], warm: parts[1], cold: parts[2] };
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CostUsageError(`--${name} must be one of ${allowed.join(', ')} (got ${value})`);
  }
  return value as T;
}

/** hot/warm/cold shares: all three, or two (the third is the rest), or none (0.02/0.18/0.80). */
function shares(hot?: string, warm?: string, cold?: string): TierShare {
  const given = { hot, warm, cold };
  const known = Object.entries(given).filter(([, v]) => v !== undefined);
  if (known.length === 0) return { hot: 0.02, warm: 0.18, cold: 0.8 };
  if (known.length === 1) throw new CostUsageError('give two or three of --hot, --warm, --cold');
  const v = Object.fromEntries(known.map(([k, s]) => [k, num(k, s)])) as Partial<TierShare>;
  const rest = 1 - (v.hot ?? 0) - (v.warm ?? 0) - (v.cold ?? 0);
  const round = (x: number) => Math.round(x * 1e9) / 1e9;
  return { hot: v.hot ?? round(rest), warm: v.warm ?? round(rest), cold: v.cold ?? round(rest) };
}

export function parseEstimateArgs(args: string[]): { input: EstimateInput; prices?: string; json: boolean } {
  const s = { type: 'string' } as const;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      twins: s,
      'avg-kb': s,
      'writes-per-day': s,
      'reads-per-day': s,
      'searches-per-day': s,
      hot: s,
      warm: s,
      cold: s,
      'read-share': s,
      'cache-hit': s,
      'images-per-twin': s,
      'avg-image-kb': s,
      regions: s,
      versions: s,
      'metadata-kb': s,
      subscriptions: s,
      cosmos: s,
      'peak-factor': s,
      'search-sku': s,
      'search-replicas': s,
      'index-ratio': s,
      'redis-sku': s,
      'bundle-twins': s,
      rehydrate: s,
      'egress-share': s,
      prices: s,
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new CostUsageError(`unexpected argument ${positionals[0]}`);
  const opt = (name: keyof typeof values) =>
    values[name] === undefined ? undefined : num(name, values[name] as string);
  const input: EstimateInput = {
    twins: num('twins', values.twins),
    avgKb: num('avg-kb', values['avg-kb']),
    writesPerDay: num('writes-per-day', values['writes-per-day'], 0),
    readsPerDay: num('reads-per-day', values['reads-per-day'], 0),
    searchesPerDay: num('searches-per-day', values['searches-per-day'], 0),
    share: shares(values.hot, values.warm, values.cold),
    readShare: triple('read-share', values['read-share']),
    cacheHitRatio: triple('cache-hit', values['cache-hit']),
    imagesPerTwin: opt('images-per-twin'),
    avgImageKb: opt('avg-image-kb'),
    regions: opt('regions'),
    versionsPerTwin: opt('versions'),
    metadataKb: opt('metadata-kb'),
    subscriptions: opt('subscriptions'),
    cosmosMode: oneOf('cosmos', values.cosmos, ['serverless', 'provisioned', 'autoscale'] as const),
    cosmosPeakFactor: opt('peak-factor'),
    searchSku: oneOf<SearchSku>('search-sku', values['search-sku'], SEARCH_SKUS),
    searchReplicas: opt('search-replicas'),
    searchIndexRatio: opt('index-ratio'),
    redisSku: oneOf<RedisSku>('redis-sku', values['redis-sku'], REDIS_SKUS),
    bundleTwins: opt('bundle-twins'),
    rehydratePriority: oneOf('rehydrate', values.rehydrate, ['standard', 'high'] as const),
    egressShare: opt('egress-share'),
  };
  return { input, prices: values.prices, json: values.json ?? false };
}

async function runEstimate(args: string[], io: CostIo): Promise<number> {
  const { input, prices, json } = parseEstimateArgs(args);
  const result = estimate(input, loadPriceTable(prices));
  io.out.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatEstimate(result));
  return 0;
}

// ---------------------------------------------------------------- report

async function scrape(url: string, io: CostIo, apiKey?: string): Promise<string> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CostUsageError(`--metrics-url must be http(s) (got ${url})`);
  }
  const doFetch = io.fetch ?? ((u: string, init?: { headers?: Record<string, string> }) => fetch(u, init));
  const response = await doFetch(
    parsed.href,
    apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {},
  );
  if (!response.ok) throw new Error(`${parsed.href} answered ${response.status}`);
  return response.text();
}

async function runReport(args: string[], io: CostIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'metrics-url': { type: 'string', multiple: true },
      'metrics-file': { type: 'string', multiple: true },
      seconds: { type: 'string' },
      interval: { type: 'string' },
      prices: { type: 'string' },
      'api-key': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new CostUsageError(`unexpected argument ${positionals[0]}`);
  const table = loadPriceTable(values.prices);
  const windows: CounterWindow[] = [];
  const files = values['metrics-file'] ?? [];
  if (files.length > 0) {
    const seconds = num('seconds', values.seconds);
    if (!(seconds > 0)) throw new CostUsageError('--seconds must be positive');
    const { readFileSync } = await import('node:fs');
    for (const file of files) {
      windows.push({
        source: file,
        seconds,
        samples: parsePrometheusText(readFileSync(file, 'utf8')).samples,
      });
    }
  }
  const env = io.env ?? process.env;
  const urls =
    values['metrics-url'] ??
    (files.length > 0 ? [] : [`http://127.0.0.1:${env.TWINS_PORT ?? '8080'}/metrics`]);
  const interval = values.interval === undefined ? undefined : num('interval', values.interval);
  if (interval !== undefined && !(interval > 0)) throw new CostUsageError('--interval must be positive');
  const now = io.now ?? (() => new Date());
  const apiKey = values['api-key'] ?? env.TWINS_API_KEY;
  const first = await Promise.all(urls.map((u) => scrape(u, io, apiKey).then(parsePrometheusText)));
  if (interval === undefined) {
    // Counts since each process started.
    urls.forEach((url, i) => {
      const start = first[i].processStartSeconds;
      if (start === undefined) {
        throw new CostUsageError(`${url} exposes no ${'twins_process_start_time_seconds'}; use --interval`);
      }
      windows.push({
        source: url,
        seconds: Math.max(1, now().getTime() / 1000 - start),
        samples: first[i].samples,
      });
    });
  } else {
    await sleep(interval * 1000);
    const second = await Promise.all(urls.map((u) => scrape(u, io, apiKey).then(parsePrometheusText)));
    urls.forEach((url, i) => {
      const before = new Map(first[i].samples.map((s) => [`${s.service}/${s.operation}/${s.tier}`, s.value]));
      const samples = second[i].samples.map((s) => ({
        ...s,
        value: Math.max(0, s.value - (before.get(`${s.service}/${s.operation}/${s.tier}`) ?? 0)),
      }));
      windows.push({ source: url, seconds: interval, samples });
    });
  }
  const result = liveCost(windows, table);
  io.out.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatLiveCost(result));
  return 0;
}

// ---------------------------------------------------------------- prices

async function runPrices(args: string[], io: CostIo): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'show') {
    const { values } = parseArgs({
      args: rest,
      options: { prices: { type: 'string' }, json: { type: 'boolean', default: false } },
    });
    const table = loadPriceTable(values.prices);
    if (values.json) {
      io.out.write(`${JSON.stringify(table, null, 2)}\n`);
      return 0;
    }
    io.out.write(
      `${table.name}: ${table.currency}, region ${table.region}, retrieved ${table.retrieved}\n\n`,
    );
    for (const key of PRICE_KEYS) {
      const p = table.prices[key];
      io.out.write(
        `${key.padEnd(40)}${String(p.usd).padStart(10)} per ${p.unit.padEnd(18)}${p.retrieved}  ${p.source}\n`,
      );
    }
    return 0;
  }
  if (action !== 'refresh') throw new CostUsageError('cost prices needs show or refresh');
  const { values } = parseArgs({
    args: rest,
    options: {
      region: { type: 'string', default: 'eastus' },
      out: { type: 'string' },
      prices: { type: 'string' },
      'api-url': { type: 'string' },
    },
  });
  const region = values.region!;
  if (!(KNOWN_REGIONS as readonly string[]).includes(region)) {
    throw new CostUsageError(`unknown region ${region}; known: ${KNOWN_REGIONS.join(', ')}`);
  }
  const now = (io.now ?? (() => new Date()))();
  const result = await refreshPriceTable(loadPriceTable(values.prices), {
    region,
    apiUrl: values['api-url'],
    fetch: io.fetch,
    now,
  });
  const out = values.out ?? `azure-prices-${region}-${now.toISOString().slice(0, 10)}.json`;
  writeFileSync(out, `${JSON.stringify(result.table, null, 2)}\n`);
  io.out.write(
    `${result.items} items in ${result.requests} requests; ${result.updated.length} prices refreshed, ${result.missing.length} kept\n`,
  );
  for (const c of result.updated) {
    if (c.before !== c.after) io.out.write(`  changed ${c.key}: ${c.before} -> ${c.after}\n`);
  }
  if (result.missing.length > 0) io.out.write(`  kept (meter not found): ${result.missing.join(', ')}\n`);
  io.out.write(`wrote ${out}; use it with --prices ${out}\n`);
  return 0;
}
