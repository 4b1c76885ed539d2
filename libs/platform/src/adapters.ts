import { join } from 'node:path';
import {
  ActivityStore,
  ContentStore,
  CONSUMERS,
  EventBusAdmin,
  EventPublisher,
  EventSubscriber,
  IdempotencyStore,
  MAX_DELIVERY_COUNT,
  SearchIndex,
  TwinCache,
  TwinCatalog,
} from '@twinstore/application';
import {
  MemoryTwinCache,
  openFsContentStore,
  openSqliteActivityStore,
  openSqliteCatalog,
  openSqliteEventBus,
  openSqliteIdempotencyStore,
  openSqliteSearchIndex,
} from '@twinstore/adapters-embedded';
import { createAzureBlobContentStore } from '@twinstore/adapters-azure-blob';
import { createCosmosTwinCatalog } from '@twinstore/adapters-azure-cosmos';
import { createAzureSearchIndex } from '@twinstore/adapters-azure-search';
import { createServiceBusEventBus } from '@twinstore/adapters-azure-service-bus';
import {
  createTableActivityStore,
  createTableIdempotencyStore,
  idempotencyTableName,
} from '@twinstore/adapters-azure-table';
import { RedisTwinCache } from '@twinstore/adapters-redis';
import type { Logger } from 'pino';
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
}

/**
 * Builds each port's adapter from the configuration; each port picks its backend on its own. Azure resources
 * the service can create (container, table, index, Cosmos container) are ensured here; the Service Bus topic
 * and subscriptions are infrastructure (deploy/).
 */
export async function createAdapters(config: TwinsConfig, logger: Logger): Promise<Adapters> {
  const layout = embeddedLayout(config.dataDir);
  const az = config.azure;
  const insecure = az.allowInsecure;

  const content = await (async (): Promise<ContentStore> => {
    if (config.adapters.contentStore === 'fs') return openFsContentStore({ dir: layout.blobs });
    const store = createAzureBlobContentStore({
      connectionString: az.storageConnectionString,
      accountUrl: az.blobAccountUrl,
      container: az.blobContainer,
    });
    await store.ensureContainer();
    return store;
  })();

  const catalog = await (async (): Promise<TwinCatalog> => {
    if (config.adapters.catalog === 'sqlite') return openSqliteCatalog({ file: layout.catalog });
    const cosmos = createCosmosTwinCatalog({
      endpoint: az.cosmosEndpoint!,
      key: az.cosmosKey,
      database: az.cosmosDatabase,
      ...(insecure ? { connectionPolicy: { enableEndpointDiscovery: false } } : {}),
    });
    await cosmos.ensureContainer();
    return cosmos;
  })();

  const search = await (async (): Promise<SearchIndex> => {
    if (config.adapters.search === 'sqlite') return openSqliteSearchIndex({ file: layout.search });
    const index = createAzureSearchIndex({
      endpoint: az.searchEndpoint!,
      apiKey: az.searchKey,
      indexName: az.searchIndex,
      allowInsecureConnection: insecure,
    });
    await index.ensureIndex();
    return index;
  })();

  const activity = await (async (): Promise<ActivityStore> => {
    if (config.adapters.activityStore === 'sqlite') return openSqliteActivityStore({ file: layout.activity });
    const table = createTableActivityStore({
      connectionString: az.storageConnectionString,
      endpoint: az.tableEndpoint,
      table: az.tableName,
    });
    await table.ensureTable();
    return table;
  })();

  const busLogger = logger.child({ component: 'event-bus' });
  const bus: EventBus =
    config.adapters.eventBus === 'sqlite'
      ? openSqliteEventBus({
          file: layout.bus,
          subscriptions: CONSUMERS,
          maxDeliveryCount: MAX_DELIVERY_COUNT,
          logger: busLogger,
        })
      : await createServiceBusEventBus({
          connectionString: az.serviceBusConnectionString,
          fullyQualifiedNamespace: az.serviceBusNamespace,
          topic: az.serviceBusTopic,
          syncRules: az.serviceBusSyncRules,
          subscriptions: CONSUMERS,
          maxDeliveryCount: MAX_DELIVERY_COUNT,
          logger: busLogger,
        });

  const cache: TwinCache = config.redisUrl
    ? new RedisTwinCache({ url: config.redisUrl })
    : new MemoryTwinCache({ maxEntries: config.cache.maxEntries, maxBytes: config.cache.maxBytes });

  const idempotency = await (async (): Promise<IdempotencyStore> => {
    if (config.adapters.activityStore === 'sqlite') {
      return openSqliteIdempotencyStore({ file: layout.idempotency });
    }
    const table = createTableIdempotencyStore({
      connectionString: az.storageConnectionString,
      endpoint: az.tableEndpoint,
      table: idempotencyTableName(az.tableName),
    });
    await table.ensureTable();
    return table;
  })();

  return { content, catalog, search, activity, bus, cache, idempotency };
}
