import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const { compilerOptions } = JSON.parse(
  readFileSync(resolve(import.meta.dirname, 'tsconfig.base.json'), 'utf8'),
) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const alias = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([name, [target]]) => [
    name,
    resolve(import.meta.dirname, target),
  ]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['{apps,libs,tools}/**/*.spec.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
