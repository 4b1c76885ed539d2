export * from './table-activity-store.adapter';
export { ACTIVITY_BUCKETS, activityPartitionKey } from './activity-entity';
export type { ActivityEntity } from './activity-entity';
export * from './idempotency/table-idempotency-store.adapter';
export * from './api-keys/table-api-key-store.adapter';
export * from './audit/table-audit-log.adapter';
export * from './billing-policy';
export * from './recent-writes/table-recent-writes.adapter';
