export * from './cache-warmer.handler';
export * from './consumers';
export * from './indexer.handler';
export * from './tiering.handler';
export * from './writer.handler';
export * from './isolating-batch-handler';
