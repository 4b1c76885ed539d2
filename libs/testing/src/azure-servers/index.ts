export * from './azurite';
export * from './cosmos-server';
