export * from './azure-blob-content-store.adapter';
export * from './blob-lease-lock';
