import type {
  AccessRecorder,
  ActivityStore,
  ApiKeyStore,
  AuditLog,
  Clock,
  ContentStore,
  DeleteTwinUseCase,
  EventBusAdmin,
  EventPublisher,
  EventSubscriber,
  GetTwinMetadataUseCase,
  GetTwinUseCase,
  IdempotencyStore,
  RecentWrites,
  SaveTwinUseCase,
  SearchIndex,
  SearchTwinsUseCase,
  TwinCache,
  TwinCatalog,
} from '@twinstore/application';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { TwinsConfig } from './config';
import type { TieringServices } from './tiering';

export interface DependencyCheck {
  name: string;
  ok: boolean;
  /** Short, safe description of the failure (no connection strings, no data). */
  detail?: string;
}

/** Everything a service needs, built once per process from the configuration (the composition root's output). */
export interface TwinsRuntime {
  readonly config: TwinsConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly content: ContentStore;
  readonly catalog: TwinCatalog;
  readonly search: SearchIndex;
  readonly cache: TwinCache;
  readonly activity: ActivityStore;
  /** Answers of requests sent with an Idempotency-Key (shared by every ingest API instance). */
  readonly idempotency: IdempotencyStore;
  /** Versions accepted lately (read-your-writes); absent in HTTP-only test doubles. */
  readonly recentWrites?: RecentWrites;
  /** API keys of the HTTP API (hashes only). */
  readonly apiKeys: ApiKeyStore;
  /** Append-only audit trail: who erased which lead (hashed), when. */
  readonly audit: AuditLog;
  /** The tier lifecycle (sweeps, promotion, bundles) and rehydration jobs; absent in HTTP-only test doubles. */
  readonly tiering?: TieringServices;
  readonly publisher: EventPublisher;
  readonly subscriber: EventSubscriber;
  readonly busAdmin: EventBusAdmin;
  readonly useCases: {
    save: SaveTwinUseCase;
    get: GetTwinUseCase;
    metadata: GetTwinMetadataUseCase;
    delete: DeleteTwinUseCase;
    search: SearchTwinsUseCase;
    access: AccessRecorder;
  };
  /** Readiness: each dependency answers. */
  checkDependencies(): Promise<DependencyCheck[]>;
  close(): Promise<void>;
}
