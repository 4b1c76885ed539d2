import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Every `TWINS_*` setting, with defaults. Parsed once at boot; every invalid key reported at once. */
const envSchema = z.object({
  TWINS_PROFILE: z.enum(['embedded']).default('embedded'),
  TWINS_PORT: int(0, 65535).default(8080),
  TWINS_HOST: z.string().min(1).default('127.0.0.1'),
  TWINS_DATA_DIR: z.string().min(1).default('./data'),
  TWINS_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  TWINS_BODY_LIMIT_BYTES: int(1024, 256 * 1024 * 1024).default(2 * 1024 * 1024),
  TWINS_BATCH_MAX_ITEMS: int(1, 1000).default(1000),
  TWINS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TWINS_CONSUMER_CONCURRENCY: int(1, 256).default(16),
  TWINS_MANAGEMENT_PORT: int(0, 65535).optional(),
  TWINS_CACHE_MAX_ENTRIES: int(0, 10_000_000).default(10_000),
  TWINS_CACHE_MAX_MB: int(1, 64 * 1024).default(256),
  TWINS_TIER_WARM_AFTER_DAYS: int(1, 36_500).default(30),
  TWINS_TIER_COLD_AFTER_DAYS: int(1, 36_500).default(365),
  TWINS_TIER_SWEEP_INTERVAL_S: int(1, 86_400 * 7).default(3600),
  TWINS_ACCESS_FLUSH_MS: int(0, 600_000).default(5000),
  TWINS_SHUTDOWN_DEADLINE_MS: int(0, 600_000).default(25_000),
  TWINS_DOCS_ENABLED: bool.default(true),
  TWINS_METRICS_ENABLED: bool.default(true),
});

/** Every setting's name. */
export const CONFIG_KEYS = Object.keys(envSchema.shape);

export type TwinsConfig = {
  profile: 'embedded';
  port: number;
  host: string;
  dataDir: string;
  redisUrl?: string;
  bodyLimitBytes: number;
  batchMaxItems: number;
  logLevel: z.output<typeof envSchema>['TWINS_LOG_LEVEL'];
  consumerConcurrency: number;
  managementPort?: number;
  cache: { maxEntries: number; maxBytes: number };
  tiering: { warmAfterDays: number; coldAfterDays: number; sweepIntervalSeconds: number };
  accessFlushMs: number;
  shutdownDeadlineMs: number;
  docsEnabled: boolean;
  metricsEnabled: boolean;
};

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
  if (e.TWINS_TIER_COLD_AFTER_DAYS <= e.TWINS_TIER_WARM_AFTER_DAYS) {
    throw new ConfigError(['TWINS_TIER_COLD_AFTER_DAYS: must be greater than TWINS_TIER_WARM_AFTER_DAYS']);
  }
  return {
    profile: e.TWINS_PROFILE,
    port: e.TWINS_PORT,
    host: e.TWINS_HOST,
    dataDir: isAbsolute(e.TWINS_DATA_DIR) ? e.TWINS_DATA_DIR : resolve(cwd, e.TWINS_DATA_DIR),
    redisUrl: e.TWINS_REDIS_URL,
    bodyLimitBytes: e.TWINS_BODY_LIMIT_BYTES,
    batchMaxItems: e.TWINS_BATCH_MAX_ITEMS,
    logLevel: e.TWINS_LOG_LEVEL,
    consumerConcurrency: e.TWINS_CONSUMER_CONCURRENCY,
    managementPort: e.TWINS_MANAGEMENT_PORT,
    cache: { maxEntries: e.TWINS_CACHE_MAX_ENTRIES, maxBytes: e.TWINS_CACHE_MAX_MB * 1024 * 1024 },
    tiering: {
      warmAfterDays: e.TWINS_TIER_WARM_AFTER_DAYS,
      coldAfterDays: e.TWINS_TIER_COLD_AFTER_DAYS,
      sweepIntervalSeconds: e.TWINS_TIER_SWEEP_INTERVAL_S,
    },
    accessFlushMs: e.TWINS_ACCESS_FLUSH_MS,
    shutdownDeadlineMs: e.TWINS_SHUTDOWN_DEADLINE_MS,
    docsEnabled: e.TWINS_DOCS_ENABLED,
    metricsEnabled: e.TWINS_METRICS_ENABLED,
  };
}

/** The settings as a table for the README and `twins config`: name, default, meaning. */
export const CONFIG_DOC: [string, string, string][] = [
  ['TWINS_PROFILE', 'embedded', 'deployment profile (embedded: nothing to install)'],
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
  ['TWINS_LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent'],
  ['TWINS_CONSUMER_CONCURRENCY', '16', 'messages in flight per subscription per process'],
  ['TWINS_MANAGEMENT_PORT', '(per service)', 'worker HTTP port for /healthz, /readyz, /metrics'],
  ['TWINS_CACHE_MAX_ENTRIES', '10000', 'in-memory cache: most entries'],
  ['TWINS_CACHE_MAX_MB', '256', 'in-memory cache: most megabytes of markdown'],
  ['TWINS_TIER_WARM_AFTER_DAYS', '30', 'days without write or read before a twin is warm'],
  ['TWINS_TIER_COLD_AFTER_DAYS', '365', 'days without write or read before a twin is cold'],
  ['TWINS_TIER_SWEEP_INTERVAL_S', '3600', 'seconds between tiering sweeps'],
  ['TWINS_ACCESS_FLUSH_MS', '5000', 'reads are coalesced into twin.accessed.v1 events this often'],
  ['TWINS_SHUTDOWN_DEADLINE_MS', '25000', 'on SIGTERM, how long in-flight work may take to finish'],
  ['TWINS_DOCS_ENABLED', 'true', 'serve OpenAPI at /docs'],
  ['TWINS_METRICS_ENABLED', 'true', 'serve Prometheus metrics at /metrics'],
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
