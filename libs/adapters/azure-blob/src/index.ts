export * from './azure-blob-content-store.adapter';
export { assertBlobPath, assertBlobPrefix, MAX_BLOB_PATH_LENGTH } from './blob-path';
