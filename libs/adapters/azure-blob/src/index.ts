export * from './azure-blob-content-store.adapter';
