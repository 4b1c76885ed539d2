export * from './bundle-format';
export * from './tier-lifecycle';
export * from './rehydration';
export * from './bundle-manifest';
