export * from './activity.port';
export * from './cache.port';
export * from './catalog.port';
export * from './clock.port';
export * from './content-store.port';
export * from './event-bus.port';
export * from './search-index.port';
export * from './highlight';
