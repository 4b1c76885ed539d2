export * from './access-recorder';
export * from './delete-twin.use-case';
export * from './erase-content';
export * from './get-twin-metadata.use-case';
export * from './get-twin.use-case';
export * from './save-twin.use-case';
export * from './search-twins.use-case';
