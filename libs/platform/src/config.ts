import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { INLINE_CONTENT_MAX_BYTES } from '@twinstore/contracts';
import { breakEvenThresholds } from './tier-policy';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The SQLite bus's default inline limit: every event a reference. An inline body is written to the bus's WAL,
 * checkpointed into bus.db and deleted again once consumed, while the consumers' blob reads are served from the
 * page cache. Measured over 5,000 personas (48.7 MB) through POST /v1/twins:batch: 1.4 bytes less written per
 * markdown byte, and a data directory of 2.9x the markdown instead of 3.8x.
 */
export const EMBEDDED_EVENT_INLINE_MAX_BYTES = 0;

/** Every `TWINS_*` setting, with defaults. Parsed once at boot; every invalid key reported at once. */
const envSchema = z.object({
  TWINS_PROFILE: z.enum(['embedded', 'azure']).default('embedded'),
  TWINS_CONTENT_STORE: z.enum(['fs', 'azure-blob']).optional(),
  TWINS_CATALOG: z.enum(['sqlite', 'cosmos']).optional(),
  TWINS_SEARCH: z.enum(['sqlite', 'azure-search']).optional(),
  TWINS_EVENT_BUS: z.enum(['sqlite', 'service-bus']).optional(),
  TWINS_ACTIVITY_STORE: z.enum(['sqlite', 'azure-table']).optional(),
  TWINS_AZURE_STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
  TWINS_AZURE_BLOB_ACCOUNT_URL: z.url().optional(),
  TWINS_AZURE_TABLE_ENDPOINT: z.url().optional(),
  TWINS_AZURE_BLOB_CONTAINER: z
    .string()
    .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid container name')
    .default('twins'),
  TWINS_AZURE_TABLE_NAME: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'must be a valid table name')
    .default('twinactivity'),
  TWINS_AZURE_COSMOS_ENDPOINT: z.url().optional(),
  TWINS_AZURE_COSMOS_KEY: z.string().min(1).optional(),
  TWINS_AZURE_COSMOS_DATABASE: z.string().min(1).max(255).default('twinstore'),
  TWINS_AZURE_SEARCH_ENDPOINT: z.url().optional(),
  TWINS_AZURE_SEARCH_KEY: z.string().min(1).optional(),
  TWINS_AZURE_SEARCH_INDEX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,126}[a-z0-9]$/, 'must be a valid index name')
    .default('digital-twins'),
  TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: z.string().min(1).optional(),
  TWINS_AZURE_SERVICEBUS_NAMESPACE: z.string().min(1).optional(),
  TWINS_AZURE_SERVICEBUS_TOPIC: z.string().min(1).max(260).default('twin-events'),
  TWINS_AZURE_SERVICEBUS_SYNC_RULES: bool.default(true),
  TWINS_AZURE_ALLOW_INSECURE: bool.default(false),
  TWINS_PORT: int(0, 65535).default(8080),
  TWINS_HOST: z.string().min(1).default('127.0.0.1'),
  TWINS_DATA_DIR: z.string().min(1).default('./data'),
  TWINS_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  TWINS_BODY_LIMIT_BYTES: int(1024, 256 * 1024 * 1024).default(2 * 1024 * 1024),
  TWINS_BATCH_MAX_ITEMS: int(1, 1000).default(1000),
  TWINS_EVENT_INLINE_MAX_BYTES: int(0, INLINE_CONTENT_MAX_BYTES).optional(),
  TWINS_IDEMPOTENCY_LEASE_MS: int(1000, 600_000).default(15_000),
  TWINS_READ_YOUR_WRITES_HORIZON_S: int(1, 86_400).default(900),
  TWINS_RATE_LIMIT_RPS: z.coerce.number().min(0).max(1_000_000).default(0),
  TWINS_RATE_LIMIT_BURST: int(0, 1_000_000).default(0),
  TWINS_RATE_LIMIT_MAX_KEYS: int(1, 10_000_000).default(100_000),
  TWINS_MAX_INFLIGHT_WRITES: int(0, 1_000_000).default(256),
  TWINS_MAX_BUS_BACKLOG: int(0, 1_000_000_000).default(20_000),
  TWINS_BUS_BACKLOG_SAMPLE_MS: int(100, 600_000).default(1000),
  TWINS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TWINS_CONSUMER_CONCURRENCY: int(1, 256).default(2),
  TWINS_CONSUMER_BATCH_SIZE: int(1, 1000).default(256),
  TWINS_CONSUMER_BATCH_WAIT_MS: int(0, 60_000).default(20),
  TWINS_MANAGEMENT_PORT: int(0, 65535).optional(),
  TWINS_ALL_WORKER_PROCESSES: z
    .string()
    .regex(
      /^(none|((writer|indexer|cache-warmer|tiering)(,(writer|indexer|cache-warmer|tiering))*))$/,
      'must be none or a comma list of writer, indexer, cache-warmer, tiering',
    )
    .default('indexer'),
  TWINS_CACHE_MAX_ENTRIES: int(0, 10_000_000).default(10_000),
  TWINS_CACHE_MAX_MB: int(1, 64 * 1024).default(256),
  TWINS_TIER_POLICY: z.enum(['break-even', 'fixed']).default('break-even'),
  TWINS_TIER_TYPICAL_TWIN_KB: int(1, 1024 * 1024).default(10),
  TWINS_PRICE_TABLE: z.string().min(1).optional(),
  TWINS_TIER_WARM_AFTER_DAYS: int(1, 36_500).default(30),
  TWINS_TIER_COLD_AFTER_DAYS: int(1, 36_500).default(365),
  TWINS_TIER_SWEEP_INTERVAL_S: int(1, 86_400 * 7).default(3600),
  TWINS_RECONCILE_INTERVAL_S: int(0, 86_400 * 7).default(900),
  TWINS_RECONCILE_WINDOW_H: int(1, 24 * 366).default(48),
  TWINS_RECONCILE_GRACE_S: int(0, 86_400).default(300),
  TWINS_TIER_BUNDLE_MAX_TWINS: int(1, 100_000).default(1000),
  TWINS_TIER_COMPACT_DEAD_PERCENT: int(1, 100).default(50),
  TWINS_REHYDRATION_DELAY_MS: int(0, 7 * 86_400_000).default(0),
  TWINS_REHYDRATION_PRIORITY: z.enum(['standard', 'high']).default('standard'),
  TWINS_ACCESS_FLUSH_MS: int(0, 600_000).default(5000),
  TWINS_SHUTDOWN_DEADLINE_MS: int(0, 600_000).default(25_000),
  TWINS_DOCS_ENABLED: bool.default(true),
  TWINS_METRICS_ENABLED: bool.default(true),
  TWINS_AUTH_CACHE_TTL_MS: int(0, 600_000).default(30_000),
  TWINS_AUTH_FAILURES_PER_MIN: int(0, 1_000_000).default(60),
  TWINS_METRICS_AUTH: bool.default(false),
  TWINS_DOCS_AUTH: bool.default(false),
  TWINS_OIDC_ISSUER: z.url().optional(),
  TWINS_OIDC_AUDIENCE: z.string().min(1).optional(),
  TWINS_OIDC_JWKS_URL: z.url().optional(),
  // read by the CLI's HTTP commands (`twins load`, `twins bench`), never by the services: not in TwinsConfig
  TWINS_API_KEY: z.string().min(1).optional(),
});

/** Every setting's name. */
export const CONFIG_KEYS = Object.keys(envSchema.shape);

export type ContentStoreKind = 'fs' | 'azure-blob';
export type CatalogKind = 'sqlite' | 'cosmos';
export type SearchKind = 'sqlite' | 'azure-search';
export type EventBusKind = 'sqlite' | 'service-bus';
export type ActivityStoreKind = 'sqlite' | 'azure-table';

/** Connection settings of the Azure services; absent keys mean DefaultAzureCredential (managed identity). */
export interface AzureSettings {
  storageConnectionString?: string;
  blobAccountUrl?: string;
  tableEndpoint?: string;
  blobContainer: string;
  tableName: string;
  cosmosEndpoint?: string;
  cosmosKey?: string;
  cosmosDatabase: string;
  searchEndpoint?: string;
  searchKey?: string;
  searchIndex: string;
  serviceBusConnectionString?: string;
  serviceBusNamespace?: string;
  serviceBusTopic: string;
  /** Make each subscription's rules route exactly its event types at start (off when infrastructure owns them). */
  serviceBusSyncRules: boolean;
  /** Plain http to local stand-ins (Azurite, test servers); never in production. */
  allowInsecure: boolean;
}

export type TwinsConfig = {
  profile: 'embedded' | 'azure';
  /** Each port picks its backend on its own; the profile gives the defaults. */
  adapters: {
    contentStore: ContentStoreKind;
    catalog: CatalogKind;
    search: SearchKind;
    eventBus: EventBusKind;
    activityStore: ActivityStoreKind;
  };
  azure: AzureSettings;
  port: number;
  host: string;
  dataDir: string;
  redisUrl?: string;
  bodyLimitBytes: number;
  batchMaxItems: number;
  /**
   * Markdown up to this size travels inline in `twin.saved.v1`; larger goes as a reference to its blob (claim
   * check). Default per event bus: EMBEDDED_EVENT_INLINE_MAX_BYTES on SQLite, INLINE_CONTENT_MAX_BYTES else.
   */
  eventInlineMaxBytes: number;
  /** How long an Idempotency-Key claim holds without renewal: a retry after a crash waits at most this long. */
  idempotencyLeaseMs: number;
  /** How long reads answer an accepted version before the projections show it (RecentWrites horizon). */
  readYourWritesHorizonMs: number;
  /** Per-key rate limit and back-pressure of the ingest API (429 / 503 with Retry-After). */
  flowControl: {
    /** Token bucket per principal (client IP without one); ratePerSecond 0 = off, burst 0 = ceil(rate). */
    rateLimit: { ratePerSecond: number; burst: number; maxKeys: number };
    /** 0 = no cap. */
    maxInflightWrites: number;
    /** 0 = off. */
    maxBusBacklog: number;
    busBacklogSampleMs: number;
  };
  logLevel: z.output<typeof envSchema>['TWINS_LOG_LEVEL'];
  consumerConcurrency: number;
  /** Most deliveries per handler call, and how long a partial batch may wait for more (ms). */
  consumerBatch: { maxSize: number; maxWaitMs: number };
  managementPort?: number;
  /** `twins start all`: consumers run as child processes (the rest share the API's process). */
  allWorkerProcesses: ('writer' | 'indexer' | 'cache-warmer' | 'tiering')[];
  cache: { maxEntries: number; maxBytes: number };
  tiering: {
    /** `break-even`: thresholds from the price table and the typical twin size; `fixed`: the configured days. */
    policy: 'break-even' | 'fixed';
    warmAfterDays: number;
    coldAfterDays: number;
    sweepIntervalSeconds: number;
    bundleMaxTwins: number;
    /** Share (0-1] of dead entries at which a bundle is rewritten. */
    compactDeadRatio: number;
    rehydrationDelayMs: number;
    rehydrationPriority: 'standard' | 'high';
  };
  /** The writer's scheduled reconcile: every `intervalSeconds` (0 = never), over the last `windowHours`. */
  reconcile: { intervalSeconds: number; windowHours: number; graceSeconds: number };
  accessFlushMs: number;
  shutdownDeadlineMs: number;
  docsEnabled: boolean;
  metricsEnabled: boolean;
  /** Who may call the HTTP API: API keys (always) and, when `oidc` is set, OIDC / Entra ID bearer tokens. */
  auth: AuthSettings;
};

export interface AuthSettings {
  /** How long a verified key (or token) is trusted without asking the store again; revocation lag. */
  cacheTtlMs: number;
  /** Failed authentications allowed per client address per minute (0 = unlimited); beyond it, 429. */
  failuresPerMinute: number;
  /** /metrics needs a valid credential (any scope). */
  metricsAuth: boolean;
  /** /docs needs a valid credential (any scope). */
  docsAuth: boolean;
  oidc?: { issuer: string; audience: string; jwksUrl?: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): TwinsConfig {
  const unknown = Object.keys(env).filter(
    (k) =>
      k.startsWith('TWINS_') &&
      !k.startsWith('TWINS_TEST_') &&
      !k.startsWith('TWINS_LIVE_') &&
      !CONFIG_KEYS.includes(k),
  );
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  const problems = [
    ...unknown.map((k) => `${k}: unknown setting`),
    ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const azure = e.TWINS_PROFILE === 'azure';
  const adapters = {
    contentStore: e.TWINS_CONTENT_STORE ?? (azure ? 'azure-blob' : 'fs'),
    catalog: e.TWINS_CATALOG ?? (azure ? 'cosmos' : 'sqlite'),
    search: e.TWINS_SEARCH ?? (azure ? 'azure-search' : 'sqlite'),
    eventBus: e.TWINS_EVENT_BUS ?? (azure ? 'service-bus' : 'sqlite'),
    activityStore: e.TWINS_ACTIVITY_STORE ?? (azure ? 'azure-table' : 'sqlite'),
  } as const;
  const missing = (when: boolean, message: string) => (when ? [message] : []);
  let thresholds = {
    warmAfterDays: e.TWINS_TIER_WARM_AFTER_DAYS,
    coldAfterDays: e.TWINS_TIER_COLD_AFTER_DAYS,
  };
  const priceProblems: string[] = [];
  if (e.TWINS_TIER_POLICY === 'break-even') {
    try {
      thresholds = breakEvenThresholds({
        typicalTwinKb: e.TWINS_TIER_TYPICAL_TWIN_KB,
        bundleMaxTwins: e.TWINS_TIER_BUNDLE_MAX_TWINS,
        priceTableFile: e.TWINS_PRICE_TABLE,
      });
    } catch (err) {
      priceProblems.push(`TWINS_PRICE_TABLE: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const semantic = [
    ...priceProblems,
    ...missing(
      e.TWINS_TIER_COLD_AFTER_DAYS <= e.TWINS_TIER_WARM_AFTER_DAYS,
      'TWINS_TIER_COLD_AFTER_DAYS: must be greater than TWINS_TIER_WARM_AFTER_DAYS',
    ),
    ...missing(
      adapters.contentStore === 'azure-blob' &&
        !e.TWINS_AZURE_STORAGE_CONNECTION_STRING &&
        !e.TWINS_AZURE_BLOB_ACCOUNT_URL,
      'TWINS_AZURE_STORAGE_CONNECTION_STRING or TWINS_AZURE_BLOB_ACCOUNT_URL: required by the azure-blob content store',
    ),
    ...missing(
      adapters.activityStore === 'azure-table' &&
        !e.TWINS_AZURE_STORAGE_CONNECTION_STRING &&
        !e.TWINS_AZURE_TABLE_ENDPOINT,
      'TWINS_AZURE_STORAGE_CONNECTION_STRING or TWINS_AZURE_TABLE_ENDPOINT: required by the azure-table activity store',
    ),
    ...missing(
      adapters.catalog === 'cosmos' && !e.TWINS_AZURE_COSMOS_ENDPOINT,
      'TWINS_AZURE_COSMOS_ENDPOINT: required by the cosmos catalog',
    ),
    ...missing(
      adapters.search === 'azure-search' && !e.TWINS_AZURE_SEARCH_ENDPOINT,
      'TWINS_AZURE_SEARCH_ENDPOINT: required by the azure-search index',
    ),
    ...missing(
      adapters.eventBus === 'service-bus' &&
        !e.TWINS_AZURE_SERVICEBUS_CONNECTION_STRING &&
        !e.TWINS_AZURE_SERVICEBUS_NAMESPACE,
      'TWINS_AZURE_SERVICEBUS_CONNECTION_STRING or TWINS_AZURE_SERVICEBUS_NAMESPACE: required by the service-bus event bus',
    ),
    ...missing(
      !!e.TWINS_OIDC_ISSUER !== !!e.TWINS_OIDC_AUDIENCE,
      'TWINS_OIDC_ISSUER and TWINS_OIDC_AUDIENCE: set both (OIDC bearer tokens) or neither',
    ),
    ...missing(
      !e.TWINS_REDIS_URL && e.TWINS_ALL_WORKER_PROCESSES.split(',').includes('cache-warmer'),
      'TWINS_ALL_WORKER_PROCESSES: cache-warmer can run apart only with TWINS_REDIS_URL (the in-memory cache is per process)',
    ),
    ...missing(
      !!e.TWINS_OIDC_JWKS_URL && !e.TWINS_OIDC_ISSUER,
      'TWINS_OIDC_JWKS_URL: needs TWINS_OIDC_ISSUER and TWINS_OIDC_AUDIENCE',
    ),
  ];
  if (semantic.length > 0) throw new ConfigError(semantic);
  return {
    profile: e.TWINS_PROFILE,
    adapters,
    azure: {
      storageConnectionString: e.TWINS_AZURE_STORAGE_CONNECTION_STRING,
      blobAccountUrl: e.TWINS_AZURE_BLOB_ACCOUNT_URL,
      tableEndpoint: e.TWINS_AZURE_TABLE_ENDPOINT,
      blobContainer: e.TWINS_AZURE_BLOB_CONTAINER,
      tableName: e.TWINS_AZURE_TABLE_NAME,
      cosmosEndpoint: e.TWINS_AZURE_COSMOS_ENDPOINT,
      cosmosKey: e.TWINS_AZURE_COSMOS_KEY,
      cosmosDatabase: e.TWINS_AZURE_COSMOS_DATABASE,
      searchEndpoint: e.TWINS_AZURE_SEARCH_ENDPOINT,
      searchKey: e.TWINS_AZURE_SEARCH_KEY,
      searchIndex: e.TWINS_AZURE_SEARCH_INDEX,
      serviceBusConnectionString: e.TWINS_AZURE_SERVICEBUS_CONNECTION_STRING,
      serviceBusNamespace: e.TWINS_AZURE_SERVICEBUS_NAMESPACE,
      serviceBusTopic: e.TWINS_AZURE_SERVICEBUS_TOPIC,
      serviceBusSyncRules: e.TWINS_AZURE_SERVICEBUS_SYNC_RULES,
      allowInsecure: e.TWINS_AZURE_ALLOW_INSECURE,
    },
    port: e.TWINS_PORT,
    host: e.TWINS_HOST,
    dataDir: isAbsolute(e.TWINS_DATA_DIR) ? e.TWINS_DATA_DIR : resolve(cwd, e.TWINS_DATA_DIR),
    redisUrl: e.TWINS_REDIS_URL,
    bodyLimitBytes: e.TWINS_BODY_LIMIT_BYTES,
    batchMaxItems: e.TWINS_BATCH_MAX_ITEMS,
    eventInlineMaxBytes:
      e.TWINS_EVENT_INLINE_MAX_BYTES ??
      (adapters.eventBus === 'sqlite' ? EMBEDDED_EVENT_INLINE_MAX_BYTES : INLINE_CONTENT_MAX_BYTES),
    idempotencyLeaseMs: e.TWINS_IDEMPOTENCY_LEASE_MS,
    readYourWritesHorizonMs: e.TWINS_READ_YOUR_WRITES_HORIZON_S * 1000,
    flowControl: {
      rateLimit: {
        ratePerSecond: e.TWINS_RATE_LIMIT_RPS,
        burst: e.TWINS_RATE_LIMIT_BURST,
        maxKeys: e.TWINS_RATE_LIMIT_MAX_KEYS,
      },
      maxInflightWrites: e.TWINS_MAX_INFLIGHT_WRITES,
      maxBusBacklog: e.TWINS_MAX_BUS_BACKLOG,
      busBacklogSampleMs: e.TWINS_BUS_BACKLOG_SAMPLE_MS,
    },
    logLevel: e.TWINS_LOG_LEVEL,
    consumerConcurrency: e.TWINS_CONSUMER_CONCURRENCY,
    consumerBatch: { maxSize: e.TWINS_CONSUMER_BATCH_SIZE, maxWaitMs: e.TWINS_CONSUMER_BATCH_WAIT_MS },
    managementPort: e.TWINS_MANAGEMENT_PORT,
    allWorkerProcesses:
      e.TWINS_ALL_WORKER_PROCESSES === 'none'
        ? []
        : [...new Set(e.TWINS_ALL_WORKER_PROCESSES.split(','))].map(
            (name) => name as TwinsConfig['allWorkerProcesses'][number],
          ),
    cache: { maxEntries: e.TWINS_CACHE_MAX_ENTRIES, maxBytes: e.TWINS_CACHE_MAX_MB * 1024 * 1024 },
    tiering: {
      policy: e.TWINS_TIER_POLICY,
      ...thresholds,
      sweepIntervalSeconds: e.TWINS_TIER_SWEEP_INTERVAL_S,
      bundleMaxTwins: e.TWINS_TIER_BUNDLE_MAX_TWINS,
      compactDeadRatio: e.TWINS_TIER_COMPACT_DEAD_PERCENT / 100,
      rehydrationDelayMs: e.TWINS_REHYDRATION_DELAY_MS,
      rehydrationPriority: e.TWINS_REHYDRATION_PRIORITY,
    },
    reconcile: {
      intervalSeconds: e.TWINS_RECONCILE_INTERVAL_S,
      windowHours: e.TWINS_RECONCILE_WINDOW_H,
      graceSeconds: e.TWINS_RECONCILE_GRACE_S,
    },
    accessFlushMs: e.TWINS_ACCESS_FLUSH_MS,
    shutdownDeadlineMs: e.TWINS_SHUTDOWN_DEADLINE_MS,
    docsEnabled: e.TWINS_DOCS_ENABLED,
    metricsEnabled: e.TWINS_METRICS_ENABLED,
    auth: {
      cacheTtlMs: e.TWINS_AUTH_CACHE_TTL_MS,
      failuresPerMinute: e.TWINS_AUTH_FAILURES_PER_MIN,
      metricsAuth: e.TWINS_METRICS_AUTH,
      docsAuth: e.TWINS_DOCS_AUTH,
      ...(e.TWINS_OIDC_ISSUER && e.TWINS_OIDC_AUDIENCE
        ? {
            oidc: {
              issuer: e.TWINS_OIDC_ISSUER,
              audience: e.TWINS_OIDC_AUDIENCE,
              jwksUrl: e.TWINS_OIDC_JWKS_URL,
            },
          }
        : {}),
    },
  };
}

/** The settings as a table for the README and `twins config`: name, default, meaning. */
export const CONFIG_DOC: [string, string, string][] = [
  ['TWINS_PROFILE', 'embedded', 'embedded (nothing to install) or azure: the default backend of every port'],
  ['TWINS_CONTENT_STORE', '(profile)', 'fs or azure-blob'],
  ['TWINS_CATALOG', '(profile)', 'sqlite or cosmos'],
  ['TWINS_SEARCH', '(profile)', 'sqlite or azure-search'],
  ['TWINS_EVENT_BUS', '(profile)', 'sqlite or service-bus'],
  ['TWINS_ACTIVITY_STORE', '(profile)', 'sqlite or azure-table'],
  [
    'TWINS_AZURE_STORAGE_CONNECTION_STRING',
    '(unset)',
    'Blob and Table connection string (or the two URLs below with managed identity)',
  ],
  [
    'TWINS_AZURE_BLOB_ACCOUNT_URL',
    '(unset)',
    'https://ACCOUNT.blob.core.windows.net, with DefaultAzureCredential',
  ],
  [
    'TWINS_AZURE_TABLE_ENDPOINT',
    '(unset)',
    'https://ACCOUNT.table.core.windows.net, with DefaultAzureCredential',
  ],
  ['TWINS_AZURE_BLOB_CONTAINER', 'twins', 'container holding digital-twins/ and persona-images/'],
  ['TWINS_AZURE_TABLE_NAME', 'twinactivity', 'table of tiering bookkeeping'],
  ['TWINS_AZURE_COSMOS_ENDPOINT', '(unset)', 'Cosmos DB account endpoint'],
  ['TWINS_AZURE_COSMOS_KEY', '(unset)', 'Cosmos DB key; unset: DefaultAzureCredential'],
  ['TWINS_AZURE_COSMOS_DATABASE', 'twinstore', 'Cosmos DB database (container twins)'],
  ['TWINS_AZURE_SEARCH_ENDPOINT', '(unset)', 'AI Search endpoint'],
  ['TWINS_AZURE_SEARCH_KEY', '(unset)', 'AI Search admin key; unset: DefaultAzureCredential'],
  ['TWINS_AZURE_SEARCH_INDEX', 'digital-twins', 'AI Search index name'],
  ['TWINS_AZURE_SERVICEBUS_CONNECTION_STRING', '(unset)', 'Service Bus connection string'],
  [
    'TWINS_AZURE_SERVICEBUS_NAMESPACE',
    '(unset)',
    'NAMESPACE.servicebus.windows.net, with DefaultAzureCredential',
  ],
  ['TWINS_AZURE_SERVICEBUS_TOPIC', 'twin-events', 'topic with one subscription per consumer'],
  [
    'TWINS_AZURE_SERVICEBUS_SYNC_RULES',
    'true',
    'set subscription rules to route each consumer only its event types at start',
  ],
  [
    'TWINS_AZURE_ALLOW_INSECURE',
    'false',
    'allow plain http to local stand-ins (Azurite, emulators, test servers)',
  ],
  ['TWINS_PORT', '8080', 'HTTP port of the ingest API (0 = any free port)'],
  ['TWINS_HOST', '127.0.0.1', 'address the HTTP servers bind to'],
  ['TWINS_DATA_DIR', './data', 'embedded profile: directory for blobs, SQLite databases and the event bus'],
  [
    'TWINS_REDIS_URL',
    '(unset)',
    'use Redis for the cache (shared by all processes); unset: in-memory LRU per process',
  ],
  ['TWINS_BODY_LIMIT_BYTES', '2097152', 'largest request body accepted (413 above)'],
  ['TWINS_BATCH_MAX_ITEMS', '1000', 'largest batch accepted by POST /v1/twins:batch'],
  [
    'TWINS_IDEMPOTENCY_LEASE_MS',
    '15000',
    'claim of an Idempotency-Key; renewed while its request runs, lapses after a crash',
  ],
  [
    'TWINS_READ_YOUR_WRITES_HORIZON_S',
    '900',
    'reads answer an accepted version this long even if the projections lag (read-your-writes)',
  ],
  ['TWINS_RATE_LIMIT_RPS', '0', 'requests per second per API key (client IP without one); 0 = no limit'],
  ['TWINS_RATE_LIMIT_BURST', '0', 'requests a key may send at once after idling; 0 = one second of the rate'],
  ['TWINS_RATE_LIMIT_MAX_KEYS', '100000', 'rate limit buckets kept (least recently used dropped beyond)'],
  ['TWINS_MAX_INFLIGHT_WRITES', '256', 'writes processed at once; more get 503 + Retry-After (0 = no cap)'],
  ['TWINS_MAX_BUS_BACKLOG', '20000', 'event backlog above which writes get 503 + Retry-After (0 = off)'],
  ['TWINS_BUS_BACKLOG_SAMPLE_MS', '1000', 'how often the ingest API samples the event backlog'],
  [
    'TWINS_EVENT_INLINE_MAX_BYTES',
    '(profile)',
    'markdown up to this size travels inside twin.saved.v1 (embedded 0: always a blob reference; azure 98304)',
  ],
  ['TWINS_LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent'],
  ['TWINS_CONSUMER_CONCURRENCY', '2', 'handler calls (batches) in flight per subscription per process'],
  ['TWINS_CONSUMER_BATCH_SIZE', '256', 'most deliveries a consumer projects in one call (one transaction)'],
  ['TWINS_CONSUMER_BATCH_WAIT_MS', '20', 'how long a consumer holds a partial batch waiting for more (ms)'],
  ['TWINS_MANAGEMENT_PORT', '(per service)', 'worker HTTP port for /healthz, /readyz, /metrics'],
  [
    'TWINS_ALL_WORKER_PROCESSES',
    'indexer',
    '`twins start all`: consumers run as child processes (a second core); none = one process',
  ],
  ['TWINS_CACHE_MAX_ENTRIES', '10000', 'in-memory cache: most entries'],
  ['TWINS_CACHE_MAX_MB', '256', 'in-memory cache: most megabytes of markdown'],
  [
    'TWINS_TIER_POLICY',
    'break-even',
    'break-even: demote when idle as long as the move pays back (price table, twin size); fixed: the days below',
  ],
  [
    'TWINS_TIER_TYPICAL_TWIN_KB',
    '10',
    'break-even policy: typical twin size the thresholds are computed for',
  ],
  [
    'TWINS_PRICE_TABLE',
    '(bundled)',
    'price table file (`twins cost prices refresh`) for the break-even policy',
  ],
  ['TWINS_TIER_WARM_AFTER_DAYS', '30', 'fixed policy: days without write or read before a twin is warm'],
  ['TWINS_TIER_COLD_AFTER_DAYS', '365', 'fixed policy: days without write or read before a twin is cold'],
  ['TWINS_TIER_SWEEP_INTERVAL_S', '3600', 'seconds between tiering sweeps'],
  [
    'TWINS_RECONCILE_INTERVAL_S',
    '900',
    'writer: seconds between reconcile runs (0 = off), see `twins reconcile`',
  ],
  ['TWINS_RECONCILE_WINDOW_H', '48', 'writer: hours of accepted versions each reconcile run checks'],
  ['TWINS_RECONCILE_GRACE_S', '300', 'writer: versions younger than this are left to their own save'],
  ['TWINS_TIER_BUNDLE_MAX_TWINS', '1000', 'cold twins packed into one Archive bundle blob'],
  ['TWINS_TIER_COMPACT_DEAD_PERCENT', '50', 'a bundle is rewritten once this share of it is dead'],
  ['TWINS_REHYDRATION_DELAY_MS', '0', 'least time before a rehydration job completes (simulates Archive)'],
  ['TWINS_REHYDRATION_PRIORITY', 'standard', 'rehydrate priority of Archive copies: standard or high'],
  ['TWINS_ACCESS_FLUSH_MS', '5000', 'reads are coalesced into twin.accessed.v1 events this often'],
  ['TWINS_SHUTDOWN_DEADLINE_MS', '25000', 'on SIGTERM, how long in-flight work may take to finish'],
  ['TWINS_DOCS_ENABLED', 'true', 'serve OpenAPI at /docs'],
  ['TWINS_METRICS_ENABLED', 'true', 'serve Prometheus metrics at /metrics'],
  [
    'TWINS_AUTH_FAILURES_PER_MIN',
    '60',
    'failed authentications per client address per minute before 429 (0 = no limit)',
  ],
  [
    'TWINS_AUTH_CACHE_TTL_MS',
    '30000',
    'trust a verified API key this long; a revocation takes effect within it',
  ],
  ['TWINS_METRICS_AUTH', 'false', '/metrics needs an API key or token (any scope); workers: an API key'],
  ['TWINS_DOCS_AUTH', 'false', '/docs needs an API key or token (any scope)'],
  ['TWINS_OIDC_ISSUER', '(unset)', 'accept OIDC / Entra ID bearer tokens from this issuer (`iss`)'],
  ['TWINS_OIDC_AUDIENCE', '(unset)', 'the `aud` those tokens must carry (required with the issuer)'],
  ['TWINS_OIDC_JWKS_URL', '(unset)', "signing keys; unset: the issuer's OpenID discovery `jwks_uri`"],
  ['TWINS_API_KEY', '(unset)', 'the API key `twins load` and `twins bench` send (or `--api-key`)'],
];

/** For entry points: the configuration, or every problem on stderr and exit code 2. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): TwinsConfig {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
