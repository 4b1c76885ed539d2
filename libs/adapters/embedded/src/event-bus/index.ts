export type { BackoffRange, PollRange } from './backoff';
export { SCHEMA_VALIDATION_FAILED } from './invalid-body-reason';
export { LOCK_EXPIRED, MAX_DELIVERY_COUNT_EXCEEDED } from './sqlite-delivery.store';
export * from './sqlite-event-bus.adapter';
export { DEFAULT_CLOSE_DEADLINE_MS, silentLogger } from './sqlite-subscription.runner';
export type { EventBusLogger } from './sqlite-subscription.runner';
