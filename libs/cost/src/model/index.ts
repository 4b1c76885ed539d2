export * from './prices';
export * from './estimate';
export * from './refresh';
export * from './report';
export * from './format';
