export * from './ingest-api';
