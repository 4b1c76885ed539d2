export * from './idempotency-store.port';
export * from './run-idempotent';
