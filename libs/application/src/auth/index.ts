export * from './api-key';
export * from './api-key-verifier';
export * from './principal';
