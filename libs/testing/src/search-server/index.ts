export { startSearchTestServer } from './search-test-server';
export type { SearchTestServer, SearchTestServerOptions } from './search-test-server';
export { SEARCH_SERVICE_LIMITS } from './search-engine';
