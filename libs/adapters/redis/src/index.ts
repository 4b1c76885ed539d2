export * from './redis-twin-cache.adapter';
