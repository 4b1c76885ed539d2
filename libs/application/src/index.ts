export * from './handlers';
export * from './ports';
export * from './use-cases';
export * from './rebuild';
export * from './idempotency';
export * from './auth';
export * from './tiering';
