export * from './asyncapi';
export * from './cloudevent';
export * from './codec';
export * from './events';
