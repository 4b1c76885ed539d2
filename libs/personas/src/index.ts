export * from './persona-generator';
export { Random } from './prng';
