export * from './sqlite';
export * from './content-store/fs-content-store.adapter';
export * from './cache/memory-twin-cache.adapter';
export * from './event-bus';
export * from './catalog/sqlite-twin-catalog.adapter';
export * from './activity/sqlite-activity-store.adapter';
export * from './search';
export * from './idempotency/sqlite-idempotency-store.adapter';
