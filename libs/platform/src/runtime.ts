import {
  AccessRecorder,
  Clock,
  DeleteTwinUseCase,
  GetTwinMetadataUseCase,
  GetTwinUseCase,
  SaveTwinUseCase,
  SearchTwinsUseCase,
  systemClock,
} from '@twinstore/application';
import { VersionGenerator } from '@twinstore/domain';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import { createAdapters } from './adapters';
import { prometheusBillingMeter } from './billing-meter';
import { TwinsConfig } from './config';
import { createLogger } from './logger';
import { createMetricsRegistry } from './metrics';
import { DependencyCheck, TwinsRuntime } from './runtime.types';
import { createTiering } from './tiering';

export interface RuntimeOptions {
  /** The service name in logs and metrics. */
  service: string;
  clock?: Clock;
  logger?: Logger;
}

/** The composition root: builds every adapter from the configuration and wires the use cases. */
export async function createRuntime(config: TwinsConfig, options: RuntimeOptions): Promise<TwinsRuntime> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel, service: options.service });
  const metrics = createMetricsRegistry(options.service);
  const { content, catalog, search, activity, bus, cache, idempotency, recentWrites, apiKeys, audit } =
    await createAdapters(config, logger, prometheusBillingMeter(metrics));

  const versions = new VersionGenerator(() => clock.now());
  const access = new AccessRecorder(bus, clock, config.accessFlushMs);
  new Gauge({
    name: 'twins_access_reads_dropped',
    help: 'Reads not recorded for tiering because the access recorder was full (since start)',
    registers: [metrics],
    collect() {
      this.set(access.dropped);
    },
  });
  const tiering = createTiering(config, { content, activity, publisher: bus, clock });
  const useCases = {
    save: new SaveTwinUseCase(content, bus, versions, clock, catalog, {
      recentWrites,
      inlineMaxBytes: config.eventInlineMaxBytes,
    }),
    get: new GetTwinUseCase(cache, catalog, content, access, tiering.lifecycle.ledger, recentWrites),
    metadata: new GetTwinMetadataUseCase(catalog, content, recentWrites),
    delete: new DeleteTwinUseCase(
      content,
      catalog,
      cache,
      bus,
      versions,
      clock,
      audit,
      tiering.lifecycle,
      recentWrites,
    ),
    search: new SearchTwinsUseCase(search, { cache, content }),
    access,
  };

  const probe = async (name: string, fn: () => Promise<unknown>): Promise<DependencyCheck> => {
    try {
      await fn();
      return { name, ok: true };
    } catch (e) {
      return { name, ok: false, detail: e instanceof Error ? e.name : 'error' };
    }
  };

  let closed = false;
  return {
    config,
    clock,
    logger,
    metrics,
    content,
    catalog,
    search,
    cache,
    activity,
    idempotency,
    recentWrites,
    apiKeys,
    audit,
    tiering,
    publisher: bus,
    subscriber: bus,
    busAdmin: bus,
    useCases,
    checkDependencies: () =>
      Promise.all([
        probe('content-store', () => content.head('digital-twins/metadata/readiness-probe.json')),
        probe('catalog', () => catalog.get('readiness-probe')),
        probe('search-index', () => search.version('readiness-probe')),
        probe('event-bus', () => bus.stats()),
        probe('cache', () => cache.get('readiness-probe')),
      ]),
    async close() {
      if (closed) return;
      closed = true;
      await access
        .flush()
        .catch((e: unknown) => logger.warn({ err: errorName(e) }, 'access flush failed on close'));
      // Each on its own, and a slow one named: a shutdown that overruns its deadline says what it waited for.
      const closing = {
        bus,
        cache,
        search,
        catalog,
        activity,
        idempotency,
        recentWrites,
        apiKeys,
        audit,
        content,
        tiering,
      };
      await Promise.allSettled(
        Object.entries(closing).map(async ([name, adapter]) => {
          const slow = setTimeout(() => logger.warn({ adapter: name }, 'adapter still closing'), 5_000);
          try {
            await adapter.close();
          } finally {
            clearTimeout(slow);
          }
        }),
      );
    },
  };
}

export const errorName = (e: unknown): string => (e instanceof Error ? e.name : typeof e);
