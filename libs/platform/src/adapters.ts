import { join } from 'node:path';
import {
  ActivityStore,
  ApiKeyStore,
  ApiScope,
  issueApiKey,
  NewApiKey,
  AuditLog,
  BillingMeter,
  ContentStore,
  CONSUMERS,
  EventBusAdmin,
  EventPublisher,
  EventSubscriber,
  IdempotencyStore,
  MAX_DELIVERY_COUNT,
  NO_BILLING_METER,
  RecentWrites,
  SearchIndex,
  TwinCache,
  TwinCatalog,
} from '@twinstore/application';
import {
  MemoryTwinCache,
  openFsContentStore,
  openSqliteActivityStore,
  openSqliteApiKeyStore,
  openSqliteCatalog,
  openSqliteEventBus,
  openSqliteIdempotencyStore,
  openSqliteRecentWrites,
  openSqliteSearchIndex,
  SqliteAuditLog,
} from '@twinstore/adapters-embedded';
import { createAzureBlobContentStore } from '@twinstore/adapters-azure-blob';
import { createCosmosTwinCatalog } from '@twinstore/adapters-azure-cosmos';
import { createAzureSearchIndex } from '@twinstore/adapters-azure-search';
import { createServiceBusEventBus } from '@twinstore/adapters-azure-service-bus';
import {
  apiKeyTableName,
  auditTableName,
  createTableAuditLog,
  createTableActivityStore,
  createTableApiKeyStore,
  createTableIdempotencyStore,
  idempotencyTableName,
  createTableRecentWrites,
  recentWritesTableName,
  tableBillingClientOptions,
} from '@twinstore/adapters-azure-table';
import { RedisRecentWrites, RedisTwinCache } from '@twinstore/adapters-redis';
import type { Logger } from 'pino';
import { meterEmbedded, meterEmbeddedBus } from './billing-meter';
import { TwinsConfig } from './config';

/** Where the embedded profile keeps each store under TWINS_DATA_DIR. */
export function embeddedLayout(dataDir: string) {
  return {
    blobs: join(dataDir, 'blobs'),
    catalog: join(dataDir, 'catalog.db'),
    search: join(dataDir, 'search.db'),
    bus: join(dataDir, 'bus.db'),
    activity: join(dataDir, 'activity.db'),
    idempotency: join(dataDir, 'idempotency.db'),
    recentWrites: join(dataDir, 'recent-writes.db'),
    apiKeys: join(dataDir, 'api-keys.db'),
    audit: join(dataDir, 'audit.db'),
  };
}

export type EventBus = EventPublisher & EventSubscriber & EventBusAdmin;

export interface Adapters {
  content: ContentStore;
  catalog: TwinCatalog;
  search: SearchIndex;
  activity: ActivityStore;
  bus: EventBus;
  cache: TwinCache;
  /** Idempotency-Key answers; lives with the activity store's backend (SQLite file or Table Storage). */
  idempotency: IdempotencyStore;
  /** Versions accepted lately, for read-your-writes: a SQLite file, else Redis (TWINS_REDIS_URL) or a table. */
  recentWrites: RecentWrites;
  /** API keys of the HTTP API; with the activity store's backend too. */
  apiKeys: ApiKeyStore;
  /** Append-only audit trail (erasures); with the activity store's backend too. */
  audit: AuditLog;
}

/**
 * Builds each port's adapter from the configuration; each port picks its backend on its own. Azure resources
 * the service can create (container, table, index, Cosmos container) are ensured here; the Service Bus topic
 * and subscriptions are infrastructure (deploy/).
 */
export async function createAdapters(
  config: TwinsConfig,
  logger: Logger,
  meter: BillingMeter = NO_BILLING_METER,
): Promise<Adapters> {
  const layout = embeddedLayout(config.dataDir);
  const az = config.azure;
  const insecure = az.allowInsecure;

  const content = await (async (): Promise<ContentStore> => {
    if (config.adapters.contentStore === 'fs') {
      return meterEmbedded('content', openFsContentStore({ dir: layout.blobs }), meter);
    }
    const store = createAzureBlobContentStore({
      connectionString: az.storageConnectionString,
      accountUrl: az.blobAccountUrl,
      container: az.blobContainer,
      meter,
    });
    await store.ensureContainer();
    return store;
  })();

  const catalog = await (async (): Promise<TwinCatalog> => {
    if (config.adapters.catalog === 'sqlite') {
      return meterEmbedded('catalog', openSqliteCatalog({ file: layout.catalog }), meter);
    }
    const cosmos = createCosmosTwinCatalog({
      endpoint: az.cosmosEndpoint!,
      key: az.cosmosKey,
      database: az.cosmosDatabase,
      meter,
      ...(insecure ? { connectionPolicy: { enableEndpointDiscovery: false } } : {}),
    });
    await cosmos.ensureContainer();
    return cosmos;
  })();

  const search = await (async (): Promise<SearchIndex> => {
    if (config.adapters.search === 'sqlite') {
      return meterEmbedded('search', openSqliteSearchIndex({ file: layout.search }), meter);
    }
    const index = createAzureSearchIndex({
      endpoint: az.searchEndpoint!,
      apiKey: az.searchKey,
      indexName: az.searchIndex,
      allowInsecureConnection: insecure,
      meter,
    });
    await index.ensureIndex();
    return index;
  })();

  const activity = await (async (): Promise<ActivityStore> => {
    if (config.adapters.activityStore === 'sqlite') {
      return meterEmbedded('activity', openSqliteActivityStore({ file: layout.activity }), meter);
    }
    const table = createTableActivityStore({
      connectionString: az.storageConnectionString,
      endpoint: az.tableEndpoint,
      table: az.tableName,
      clientOptions: tableBillingClientOptions(meter),
    });
    await table.ensureTable();
    return table;
  })();

  const busLogger = logger.child({ component: 'event-bus' });
  const bus: EventBus =
    config.adapters.eventBus === 'sqlite'
      ? meterEmbeddedBus(
          openSqliteEventBus({
            file: layout.bus,
            subscriptions: CONSUMERS,
            maxDeliveryCount: MAX_DELIVERY_COUNT,
            logger: busLogger,
          }),
          meter,
        )
      : await createServiceBusEventBus({
          connectionString: az.serviceBusConnectionString,
          fullyQualifiedNamespace: az.serviceBusNamespace,
          topic: az.serviceBusTopic,
          syncRules: az.serviceBusSyncRules,
          subscriptions: CONSUMERS,
          maxDeliveryCount: MAX_DELIVERY_COUNT,
          logger: busLogger,
          meter,
        });

  const cache: TwinCache = config.redisUrl
    ? new RedisTwinCache({ url: config.redisUrl, meter })
    : meterEmbedded(
        'cache',
        new MemoryTwinCache({ maxEntries: config.cache.maxEntries, maxBytes: config.cache.maxBytes }),
        meter,
      );

  const idempotency = await (async (): Promise<IdempotencyStore> => {
    if (config.adapters.activityStore === 'sqlite') {
      return openSqliteIdempotencyStore({ file: layout.idempotency, leaseMs: config.idempotencyLeaseMs });
    }
    const table = createTableIdempotencyStore({
      connectionString: az.storageConnectionString,
      endpoint: az.tableEndpoint,
      table: idempotencyTableName(az.tableName),
      leaseMs: config.idempotencyLeaseMs,
      clientOptions: tableBillingClientOptions(meter),
    });
    await table.ensureTable();
    return table;
  })();

  const recentWrites = await (async (): Promise<RecentWrites> => {
    const horizonMs = config.readYourWritesHorizonMs;
    if (config.adapters.activityStore === 'sqlite') {
      return openSqliteRecentWrites({ file: layout.recentWrites, horizonMs });
    }
    if (config.redisUrl) return new RedisRecentWrites({ url: config.redisUrl, horizonMs, meter });
    const table = createTableRecentWrites({
      connectionString: az.storageConnectionString,
      endpoint: az.tableEndpoint,
      table: recentWritesTableName(az.tableName),
      horizonMs,
      clientOptions: tableBillingClientOptions(meter),
    });
    await table.ensureTable();
    return table;
  })();

  const apiKeys = await openApiKeyStore(config, meter);

  const audit = await openAuditLog(config, meter);

  return { content, catalog, search, activity, bus, cache, idempotency, recentWrites, apiKeys, audit };
}

/**
 * The API key store alone (for `twins keys` and tests that mint keys for separate processes): it follows
 * TWINS_ACTIVITY_STORE like the idempotency store, a SQLite file or a table next to the activity table.
 */
/**
 * Creates an API key in the store `config` selects and closes the store again; returns the whole key (show
 * it once) and its record. For separate-process tests and tools: call it with the services' own TWINS_*
 * settings, before or after they start; on the embedded profile an ingest API that finds a key mints none.
 */
export async function mintApiKey(
  config: TwinsConfig,
  input: { name: string; scopes: ApiScope[] },
): Promise<NewApiKey> {
  const store = await openApiKeyStore(config);
  try {
    return await issueApiKey(store, input);
  } finally {
    await store.close();
  }
}

export async function openApiKeyStore(
  config: TwinsConfig,
  meter: BillingMeter = NO_BILLING_METER,
): Promise<ApiKeyStore> {
  if (config.adapters.activityStore === 'sqlite') {
    return openSqliteApiKeyStore({ file: embeddedLayout(config.dataDir).apiKeys });
  }
  const table = createTableApiKeyStore({
    connectionString: config.azure.storageConnectionString,
    endpoint: config.azure.tableEndpoint,
    table: apiKeyTableName(config.azure.tableName),
    clientOptions: tableBillingClientOptions(meter),
  });
  await table.ensureTable();
  return table;
}

/** The audit trail alone (for `twins audit`): with the activity store's backend, like the API keys. */
export async function openAuditLog(
  config: TwinsConfig,
  meter: BillingMeter = NO_BILLING_METER,
): Promise<AuditLog> {
  if (config.adapters.activityStore === 'sqlite') {
    return new SqliteAuditLog(embeddedLayout(config.dataDir).audit);
  }
  const table = createTableAuditLog({
    connectionString: config.azure.storageConnectionString,
    endpoint: config.azure.tableEndpoint,
    table: auditTableName(config.azure.tableName),
    clientOptions: tableBillingClientOptions(meter),
  });
  await table.ensureTable();
  return table;
}

/** Closes every adapter (each on its own: one failing close does not keep the others open). */
export async function closeAdapters(adapters: Adapters): Promise<void> {
  await Promise.allSettled(Object.values(adapters).map((a: { close(): Promise<void> }) => a.close()));
}
