import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const SDKS = ['@azure/*', 'ioredis', 'better-sqlite3', '@nestjs/*', 'fastify', 'rhea', 'prom-client', 'pino'];

/** The layering: who may depend on whom. Tests may also use the testing lib (contract suites, test servers). */
const LAYERS = {
  'type:domain': { deps: [], banned: SDKS },
  'type:util': { deps: ['type:domain'], banned: SDKS },
  'type:contracts': { deps: ['type:domain'], banned: SDKS },
  'type:application': { deps: ['type:domain', 'type:contracts'], banned: SDKS },
  'type:adapter': { deps: ['type:domain', 'type:contracts', 'type:application'], banned: ['@nestjs/*'] },
  'type:platform': {
    deps: ['type:domain', 'type:contracts', 'type:application', 'type:adapter', 'type:util'],
  },
  'type:api': { deps: ['type:domain', 'type:contracts', 'type:application', 'type:platform'] },
  'type:testing': {
    deps: ['type:domain', 'type:contracts', 'type:application', 'type:adapter', 'type:platform', 'type:util'],
  },
  'type:app': {
    deps: [
      'type:domain',
      'type:contracts',
      'type:application',
      'type:adapter',
      'type:platform',
      'type:api',
      'type:util',
    ],
  },
};

const boundaries = (forTests) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: Object.entries(LAYERS).map(([sourceTag, { deps, banned }]) => ({
      sourceTag,
      onlyDependOnLibsWithTags: forTests ? [...deps, 'type:testing', 'type:util'] : deps,
      ...(banned && !forTests ? { bannedExternalImports: banned } : {}),
    })),
  },
];

export default [
  { ignores: ['**/dist', '**/node_modules', '**/tmp', '**/data', '.nx'] },
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': boundaries(false),
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.bench.ts', '**/e2e/**/*.ts', '**/bench/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@nx/enforce-module-boundaries': boundaries(true),
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: { require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
];
