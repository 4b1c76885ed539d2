export * from './bench/search-index.benchmark';
export * from './raw-fts5-baseline';
export * from './sqlite-search-index';
