export * from './cosmos-twin-catalog.adapter';
export type { TwinDocument } from './twin-document';
