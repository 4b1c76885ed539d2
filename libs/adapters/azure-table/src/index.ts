export * from './table-activity-store.adapter';
export { ACTIVITY_BUCKETS, activityPartitionKey } from './activity-entity';
export type { ActivityEntity } from './activity-entity';
export * from './idempotency/table-idempotency-store.adapter';
