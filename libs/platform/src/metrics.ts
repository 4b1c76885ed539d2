import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'twins_' });
  return registry;
}

/** Get a metric already registered on the registry, or register it (services may share one registry). */
export function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
): Counter<string> {
  return (
    (registry.getSingleMetric(name) as Counter<string>) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

export function histogram(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
): Histogram<string> {
  return (
    (registry.getSingleMetric(name) as Histogram<string>) ??
    new Histogram({ name, help, labelNames, buckets, registers: [registry] })
  );
}
