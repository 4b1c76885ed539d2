export * from './ingest-api';
export * from './first-api-key';
export { principalOf } from './http/auth';
