export * from './redis-twin-cache.adapter';
export * from './redis-recent-writes.adapter';
