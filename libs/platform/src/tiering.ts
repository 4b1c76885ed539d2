import {
  ActivityStore,
  Clock,
  ContentStore,
  EventPublisher,
  LeaseLock,
  RehydrationService,
  TierLifecycle,
  TieredContentStore,
  TieringActivity,
} from '@twinstore/application';
import { openSqliteLeaseLock } from '@twinstore/adapters-embedded';
import { AzureBlobContentStore, BlobLeaseLock } from '@twinstore/adapters-azure-blob';
import { embeddedLayout } from './adapters';
import { TwinsConfig } from './config';

/** The tier lifecycle's parts, built once per process by createRuntime. */
export interface TieringServices {
  lifecycle: TierLifecycle;
  rehydration: RehydrationService;
  lease: LeaseLock;
  close(): Promise<void>;
}

/** Lease time of a sweep: Azure blob leases last 15-60 s and are renewed between rounds. */
const SWEEP_LEASE_SECONDS = 60;

/**
 * Lifecycle, rehydration and the sweep lease on the runtime's stores. The lease lives with the content store:
 * a blob lease on a lock blob on Azure Blob Storage, a SQLite row with expiry (in the activity database)
 * on the embedded profile.
 */
export function createTiering(
  config: TwinsConfig,
  parts: { content: ContentStore; activity: ActivityStore; publisher: EventPublisher; clock: Clock },
): TieringServices {
  const content = parts.content as TieredContentStore;
  const activity = parts.activity as TieringActivity;
  if (typeof content.startRehydration !== 'function' || typeof activity.tierCandidates !== 'function') {
    throw new Error('the configured content store and activity store must support tiering');
  }
  const sqliteLease =
    content instanceof AzureBlobContentStore
      ? undefined
      : openSqliteLeaseLock({ file: embeddedLayout(config.dataDir).activity });
  const lease: LeaseLock =
    content instanceof AzureBlobContentStore ? new BlobLeaseLock(content.container) : sqliteLease!;
  const t = config.tiering;
  const lifecycle = new TierLifecycle(content, activity, parts.publisher, parts.clock, lease, {
    thresholds: { warmAfterDays: t.warmAfterDays, coldAfterDays: t.coldAfterDays },
    batchSize: Math.max(t.bundleMaxTwins, 100),
    bundleMaxTwins: t.bundleMaxTwins,
    compactDeadRatio: t.compactDeadRatio,
    rehydratePriority: t.rehydrationPriority,
    leaseSeconds: SWEEP_LEASE_SECONDS,
  });
  const rehydration = new RehydrationService(content, activity, parts.publisher, parts.clock, {
    delayMs: t.rehydrationDelayMs,
    priority: t.rehydrationPriority,
  });
  return { lifecycle, rehydration, lease, close: async () => sqliteLease?.close() };
}
