import { BillableService, BillingMeter, HandlerOutcome } from '@twinstore/application';
import type { Registry } from 'prom-client';
import { counter } from './metrics';

/** The Prometheus counter `twins cost report` reads. Labels: service, operation, tier. */
export const BILLABLE_OPERATIONS_METRIC = 'twins_billable_operations_total';

/**
 * A BillingMeter on the service's registry. Note: the `service` label is the Azure service (blob, cosmos,
 * ...), and it takes precedence over the registry's default `service` label (the process name).
 */
export function prometheusBillingMeter(registry: Registry): BillingMeter {
  const operations = counter(
    registry,
    BILLABLE_OPERATIONS_METRIC,
    'Billable operations by Azure service, operation and tier (for cosmos request_units: RU charged)',
    ['service', 'operation', 'tier'],
  );
  return {
    record(service, operation, tier = 'none', amount = 1) {
      if (amount > 0 && Number.isFinite(amount)) operations.inc({ service, operation, tier }, amount);
    },
  };
}

type Recorder = (meter: BillingMeter, args: unknown[]) => void;
type MethodMeters = Record<string, Recorder>;

const rec =
  (service: BillableService, operation: string, tier = 'none', amount = 1): Recorder =>
  (meter) =>
    meter.record(service, operation, tier, amount);
const all =
  (...recorders: Recorder[]): Recorder =>
  (meter, args) =>
    recorders.forEach((r) => r(meter, args));
const lengthOf = (v: unknown): number => (Array.isArray(v) ? v.length : 1);

/** RU of a 1 KB point read and a 1 KB write (FACTS.md), charged by the embedded catalog's Cosmos stand-in. */
const COSMOS_READ_RU = 1;
const COSMOS_WRITE_RU = 5.5;
const cosmosRead = all(rec('cosmos', 'read', 'hot'), rec('cosmos', 'request_units', 'hot', COSMOS_READ_RU));
const cosmosWrite = all(
  rec('cosmos', 'write', 'hot'),
  rec('cosmos', 'request_units', 'hot', COSMOS_WRITE_RU),
);

/**
 * The Azure operations each embedded port method stands for (what the Azure adapter would send for
 * the same call): so the embedded profile's counters price the same load as it would cost on Azure.
 */
const EMBEDDED_EQUIVALENTS: Record<'content' | 'catalog' | 'search' | 'activity' | 'cache', MethodMeters> = {
  content: {
    put: rec('blob', 'write', 'hot'),
    putMany: (m, [items]) => m.record('blob', 'write', 'hot', lengthOf(items)),
    get: all(rec('blob', 'read', 'hot'), rec('blob', 'other', 'hot')),
    head: rec('blob', 'other', 'hot'),
    delete: rec('blob', 'delete', 'hot'),
    list: rec('blob', 'list', 'hot'),
    setTier: (m, [, tier]) => m.record('blob', 'set_tier', String(tier)),
    startRehydration: (m, [, , priority]) =>
      m.record('blob', priority === 'high' ? 'rehydrate_high' : 'rehydrate_standard', 'archive'),
    rehydrationState: rec('blob', 'other', 'hot'),
    deleteMany: (m, [paths]) => m.record('blob', 'delete', 'hot', lengthOf(paths)),
  },
  catalog: {
    upsert: all(cosmosRead, cosmosWrite),
    remove: all(cosmosRead, cosmosWrite),
    get: cosmosRead,
    tombstone: cosmosRead,
    count: rec('cosmos', 'query', 'hot'),
    list: rec('cosmos', 'query', 'hot'),
  },
  search: {
    search: rec('search', 'query'),
    count: rec('search', 'query'),
    version: rec('search', 'query'),
    upsert: (m, [docs]) => {
      m.record('search', 'query');
      m.record('search', 'index', 'none', lengthOf(docs));
    },
    remove: all(rec('search', 'query'), rec('search', 'index')),
  },
  activity: {
    recordWrite: rec('table', 'transaction', 'none', 2),
    recordAccess: rec('table', 'transaction', 'none', 2),
    remove: rec('table', 'transaction', 'none', 2),
    get: rec('table', 'transaction'),
    countByTier: rec('table', 'transaction'),
  },
  cache: {
    get: rec('redis', 'get'),
    set: rec('redis', 'set'),
    invalidate: rec('redis', 'delete'),
  },
};

/**
 * Wraps an embedded adapter so each port call records the Azure operation it stands for. Every other
 * property passes through; methods run with the original object as `this`.
 */
export function meterEmbedded<T extends object>(
  port: keyof typeof EMBEDDED_EQUIVALENTS,
  target: T,
  meter: BillingMeter,
): T {
  return withRecorders(target, EMBEDDED_EQUIVALENTS[port], meter);
}

/**
 * Wraps the embedded event bus: a publish counts a Service Bus send per event; each delivery to a
 * subscriber counts a receive and its settlement (complete, abandon or dead-letter).
 */
export function meterEmbeddedBus<T extends object>(bus: T, meter: BillingMeter): T {
  return withRecorders(
    bus,
    { publish: (m, [events]) => m.record('serviceBus', 'send', 'none', lengthOf(events)) },
    meter,
    {
      subscribe: (args) => {
        const [subscription, handler, options] = args as [
          string,
          (...a: unknown[]) => Promise<HandlerOutcome>,
          unknown,
        ];
        const metered = async (...a: unknown[]): Promise<HandlerOutcome> => {
          meter.record('serviceBus', 'receive');
          const outcome = await handler(...a);
          const kind = outcome?.kind;
          meter.record(
            'serviceBus',
            kind === 'retry' ? 'abandon' : kind === 'dead-letter' ? 'dead_letter' : 'complete',
          );
          return outcome;
        };
        return [subscription, metered, options];
      },
    },
  );
}

function withRecorders<T extends object>(
  target: T,
  recorders: MethodMeters,
  meter: BillingMeter,
  argMappers: Record<string, (args: unknown[]) => unknown[]> = {},
): T {
  return new Proxy(target, {
    get(obj, prop) {
      // The target as receiver: getters and methods see the original object (private fields work).
      const value = Reflect.get(obj, prop);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      const record = recorders[prop];
      const mapArgs = argMappers[prop];
      if (!record && !mapArgs) return value.bind(obj);
      return (...args: unknown[]) => {
        try {
          record?.(meter, args);
        } catch {
          // Counting must never break the call it counts.
        }
        return Reflect.apply(value, obj, mapArgs ? mapArgs(args) : args);
      };
    },
  });
}
