export * from './rng';
export * from './tier-costs';
export * from './accounting';
export * from './policies';
export * from './optimum';
export * from './trace';
export * from './simulate';
export * from './report';
