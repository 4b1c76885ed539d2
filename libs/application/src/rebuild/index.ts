export * from './day-blob';
export * from './rebuild-projections.use-case';
export * from './reconcile.use-case';
export * from './recover';
