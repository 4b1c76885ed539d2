export * from './model';
export * from './simulator';
