import { toCents } from './estimate';
import { BLOB_TIERS, BlobTier, graduatedCost, PriceKey, PriceTable } from './prices';

/**
 * The live cost: the services' billable-operation counters (Prometheus text from /metrics), turned into
 * operations per month and priced with the table. Only per-request charges come from counters; hourly
 * capacity (search units, Service Bus namespace, cache, provisioned RU/s) and storage (GB-months) are not
 * metered here: `twins cost estimate` prices those.
 */

export const BILLABLE_METRIC = 'twins_billable_operations_total';
/** prom-client's default process metric with the registry's `twins_` prefix. */
export const START_TIME_METRIC = 'twins_process_start_time_seconds';

export interface MeterSample {
  service: string;
  operation: string;
  tier: string;
  value: number;
}

export interface ParsedMetrics {
  samples: MeterSample[];
  /** Unix seconds the process started, when exposed. */
  processStartSeconds?: number;
}

/** Reads the billable counters (and the process start time) out of Prometheus text exposition. */
export function parsePrometheusText(text: string): ParsedMetrics {
  const samples: MeterSample[] = [];
  let processStartSeconds: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, , labelText, valueText] = match;
    const value = Number(valueText);
    if (!Number.isFinite(value)) continue;
    if (name === START_TIME_METRIC) {
      processStartSeconds = Math.min(processStartSeconds ?? Infinity, value);
    } else if (name === BILLABLE_METRIC) {
      const labels = parseLabels(labelText ?? '');
      samples.push({
        service: labels.service ?? 'unknown',
        operation: labels.operation ?? 'unknown',
        tier: labels.tier ?? 'none',
        value,
      });
    }
  }
  return { samples, processStartSeconds };
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** Counters of one source and the seconds they were counted over. */
export interface CounterWindow {
  source: string;
  samples: MeterSample[];
  seconds: number;
}

export interface LiveCostLine {
  service: string;
  operation: string;
  tier: string;
  /** Counted in the window(s). */
  counted: number;
  /** Extrapolated to a month. */
  perMonth: number;
  /** Null: not billed per request (capacity-billed or free). */
  priceKey: PriceKey | null;
  unit: string;
  unitUsd: number;
  cents: number;
  note?: string;
}

export interface LiveCost {
  prices: { name: string; region: string; retrieved: string };
  windows: { source: string; seconds: number }[];
  lines: LiveCostLine[];
  byService: Record<string, number>;
  totalCents: number;
  notes: string[];
}

const BLOB_CLASSES: Record<string, 'write' | 'read' | 'list' | 'other'> = {
  write: 'write',
  read: 'read',
  list: 'list',
  other: 'other',
  set_tier: 'write',
};

/** How one counter is priced: key, quantity divisor (per 10k, per million, ...), or null when not per request. */
function pricing(s: { service: string; operation: string; tier: string }): {
  key: PriceKey | null;
  per: number;
  note?: string;
} {
  const tier: BlobTier = (BLOB_TIERS as readonly string[]).includes(s.tier) ? (s.tier as BlobTier) : 'hot';
  switch (s.service) {
    case 'blob':
      if (s.operation in BLOB_CLASSES)
        return { key: `blob.ops.${tier}.${BLOB_CLASSES[s.operation]}`, per: 10_000 };
      if (s.operation === 'rehydrate_standard')
        return { key: 'blob.ops.archive.read', per: 10_000, note: 'plus data retrieval per GB' };
      if (s.operation === 'rehydrate_high')
        return { key: 'blob.rehydrate.high.read', per: 10_000, note: 'plus data retrieval per GB' };
      if (s.operation === 'delete') return { key: null, per: 1, note: 'free' };
      break;
    case 'cosmos':
      if (s.operation === 'request_units')
        return {
          key: 'cosmos.serverless.perMillionRu',
          per: 1e6,
          note: 'serverless; provisioned bills RU/s-hours',
        };
      return { key: null, per: 1, note: 'priced by request_units' };
    case 'table':
      return { key: 'table.transactions', per: 10_000 };
    case 'serviceBus':
      return { key: 'servicebus.standard.operations', per: 1e6 };
    case 'search':
      return { key: null, per: 1, note: 'billed per search unit-hour' };
    case 'redis':
      return { key: null, per: 1, note: 'billed per cache-hour' };
  }
  return { key: null, per: 1, note: 'unknown counter' };
}

/**
 * Prices counter windows: each counter's rate (count / seconds) x the month. Service Bus operations are
 * priced together on the graduated scale (the first 13M a month are included), then shared out per line.
 */
export function liveCost(windows: readonly CounterWindow[], prices: PriceTable): LiveCost {
  const monthSeconds = prices.hoursPerMonth * 3600;
  const merged = new Map<
    string,
    { service: string; operation: string; tier: string; counted: number; perMonth: number }
  >();
  for (const w of windows) {
    if (!(w.seconds > 0)) continue;
    for (const s of w.samples) {
      const id = `${s.service}\u0000${s.operation}\u0000${s.tier}`;
      const row = merged.get(id) ?? {
        service: s.service,
        operation: s.operation,
        tier: s.tier,
        counted: 0,
        perMonth: 0,
      };
      row.counted += s.value;
      row.perMonth += (s.value / w.seconds) * monthSeconds;
      merged.set(id, row);
    }
  }
  const rows = [...merged.values()].sort((a, b) =>
    `${a.service}/${a.operation}/${a.tier}`.localeCompare(`${b.service}/${b.operation}/${b.tier}`),
  );
  const sbMillions = rows.filter((r) => r.service === 'serviceBus').reduce((n, r) => n + r.perMonth / 1e6, 0);
  const sbUsd = graduatedCost(prices.prices['servicebus.standard.operations'], sbMillions);
  const sbUnitUsd = sbMillions > 0 ? sbUsd / sbMillions : 0;
  const lines: LiveCostLine[] = rows.map((r) => {
    const p = pricing(r);
    if (p.key === null) {
      return { ...r, priceKey: null, unit: 'operations', unitUsd: 0, cents: 0, note: p.note };
    }
    const entry = prices.prices[p.key];
    const unitUsd = p.key === 'servicebus.standard.operations' ? sbUnitUsd : entry.usd;
    const usd = (r.perMonth / p.per) * unitUsd;
    return { ...r, priceKey: p.key, unit: entry.unit, unitUsd, cents: toCents(usd), note: p.note };
  });
  const byService: Record<string, number> = {};
  let totalCents = 0;
  for (const l of lines) {
    byService[l.service] = (byService[l.service] ?? 0) + l.cents;
    totalCents += l.cents;
  }
  return {
    prices: { name: prices.name, region: prices.region, retrieved: prices.retrieved },
    windows: windows.map((w) => ({ source: w.source, seconds: w.seconds })),
    lines,
    byService,
    totalCents,
    notes: [
      `rates extrapolated to a month of ${prices.hoursPerMonth} h; per-request charges only`,
      'not included: storage (GB-month), data retrieval per GB, and hourly capacity (search units, Service Bus namespace, cache, provisioned RU/s): see `twins cost estimate`',
      `Service Bus: ${round2(sbMillions)}M operations a month, first ${prices.limits.serviceBusIncludedOperationsPerMonth / 1e6}M included`,
    ],
  };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
