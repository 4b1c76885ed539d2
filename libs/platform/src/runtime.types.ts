import type {
  AccessRecorder,
  ActivityStore,
  Clock,
  ContentStore,
  DeleteTwinUseCase,
  EventBusAdmin,
  EventPublisher,
  EventSubscriber,
  GetTwinMetadataUseCase,
  GetTwinUseCase,
  IdempotencyStore,
  SaveTwinUseCase,
  SearchIndex,
  SearchTwinsUseCase,
  TwinCache,
  TwinCatalog,
} from '@twinstore/application';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { TwinsConfig } from './config';

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
