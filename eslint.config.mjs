import nx from '@nx/eslint-plugin';

// Module boundaries: libs never import apps; the model and proto libs import no
// queue or transport code; util libs stand alone.
export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/node_modules', '**/dist', '**/*.js', '**/*.mjs', 'libs/proto/src/generated/**', 'bench/.cache/**'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:runtime', 'type:model', 'type:proto', 'type:util', 'type:collective', 'type:cluster'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:app', 'type:runtime', 'type:model', 'type:proto', 'type:util', 'type:collective', 'type:cluster'] },
            { sourceTag: 'type:cluster', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: ['@tensorflow/*', '@grpc/*'] },
            { sourceTag: 'type:runtime', onlyDependOnLibsWithTags: ['type:runtime', 'type:model', 'type:util'], bannedExternalImports: ['bullmq', 'ioredis', '@grpc/*'] },
            { sourceTag: 'type:collective', onlyDependOnLibsWithTags: ['type:proto', 'type:util'] },
            { sourceTag: 'type:model', onlyDependOnLibsWithTags: ['type:model', 'type:util'], bannedExternalImports: ['bullmq', 'ioredis', '@grpc/*'] },
            { sourceTag: 'type:proto', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: ['bullmq', 'ioredis', '@tensorflow/*'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: ['bullmq', 'ioredis', '@grpc/*', '@tensorflow/*'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
];
