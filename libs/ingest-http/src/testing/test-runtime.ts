import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import {
  AccessRecorder,
  newApiKey,
  DeleteTwinUseCase,
  GetTwinMetadataUseCase,
  GetTwinUseCase,
  SaveTwinUseCase,
  SearchTwinsUseCase,
  WriterHandler,
} from '@twinstore/application';
import { VersionGenerator } from '@twinstore/domain';
import { type DependencyCheck, loadConfig, type TwinsConfig, type TwinsRuntime } from '@twinstore/platform';
import {
  InMemoryCache,
  InMemoryCatalog,
  InMemoryContentStore,
  InMemoryIdempotencyStore,
  RecordingPublisher,
  RecordingSearchIndex,
  unusedActivityStore,
  unusedBusAdmin,
  unusedSubscriber,
} from './in-memory-doubles';
import { InMemoryApiKeyStore } from './in-memory-api-key-store';
import { InMemoryAuditLog } from './in-memory-audit-log';

export const TEST_CONFIG: TwinsConfig = {
  ...loadConfig({ TWINS_DATA_DIR: '/nonexistent/unused-by-unit-tests' }),
  port: 0,
  bodyLimitBytes: 64 * 1024,
  batchMaxItems: 5,
  logLevel: 'debug',
  consumerConcurrency: 4,
  cache: { maxEntries: 100, maxBytes: 1024 * 1024 },
  accessFlushMs: 0,
  shutdownDeadlineMs: 1000,
};

export interface TestRuntime {
  runtime: TwinsRuntime;
  content: InMemoryContentStore;
  catalog: InMemoryCatalog;
  cache: InMemoryCache;
  publisher: RecordingPublisher;
  search: RecordingSearchIndex;
  idempotency: InMemoryIdempotencyStore;
  apiKeys: InMemoryApiKeyStore;
  audit: InMemoryAuditLog;
  /** An admin API key held by `apiKeys` (send it as `Authorization: Bearer`; see withApiKey). */
  adminKey: string;
  /** Every log line written, as raw JSON text. */
  logs: string[];
  /** What the writer service would do: apply the published events to the catalog and the pointer blob. */
  project(): Promise<void>;
  /** Make readiness fail for the named dependency. */
  failCheck?: string;
}

export function createTestRuntime(config: Partial<TwinsConfig> = {}): TestRuntime {
  const content = new InMemoryContentStore();
  const catalog = new InMemoryCatalog();
  const cache = new InMemoryCache();
  const publisher = new RecordingPublisher();
  const search = new RecordingSearchIndex();
  const idempotency = new InMemoryIdempotencyStore();
  const apiKeys = new InMemoryApiKeyStore();
  const audit = new InMemoryAuditLog();
  const admin = newApiKey({ name: 'test admin', scopes: ['admin'], now: new Date() });
  apiKeys.records.set(admin.record.keyId, admin.record);
  const logs: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    }),
  );
  const clock = { now: () => new Date() };
  const versions = new VersionGenerator(() => clock.now());
  const access = new AccessRecorder(publisher, clock, 0);
  const writer = new WriterHandler(catalog, content);
  let projected = 0;

  const test: TestRuntime = {
    content,
    catalog,
    cache,
    publisher,
    search,
    idempotency,
    apiKeys,
    audit,
    adminKey: admin.key,
    logs,
    async project() {
      while (projected < publisher.events.length) {
        await writer.handle(publisher.events[projected++]);
      }
    },
    runtime: undefined as unknown as TwinsRuntime,
  };
  test.runtime = {
    config: { ...TEST_CONFIG, ...config },
    clock,
    logger,
    metrics: new Registry(),
    content,
    catalog,
    search,
    cache,
    activity: unusedActivityStore,
    idempotency,
    apiKeys,
    audit,
    publisher,
    subscriber: unusedSubscriber,
    busAdmin: unusedBusAdmin,
    useCases: {
      save: new SaveTwinUseCase(content, publisher, versions, clock, catalog),
      get: new GetTwinUseCase(cache, catalog, content, access),
      metadata: new GetTwinMetadataUseCase(catalog, content),
      delete: new DeleteTwinUseCase(content, catalog, cache, publisher, versions, clock, audit),
      search: new SearchTwinsUseCase(search, { cache, content }),
      access,
    },
    async checkDependencies(): Promise<DependencyCheck[]> {
      return ['content-store', 'catalog'].map((name) =>
        name === test.failCheck ? { name, ok: false, detail: 'Error' } : { name, ok: true },
      );
    },
    async close() {},
  };
  return test;
}
