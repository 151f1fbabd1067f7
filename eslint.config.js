// Lint rules, including the import boundaries between the src/ folders that DESIGN.md states.
// Import cycles are checked by test/architecture.test.ts (the import-x plugin needs native
// resolver bindings the package registry cannot provide for every platform).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const folders = [
  'core',
  'api',
  'image',
  'store',
  'distribution',
  'executor',
  'server',
  'agent',
  'cli',
];

/** Which of our folders each folder may import (besides itself). */
const allowed = {
  core: [],
  api: ['core'],
  image: ['core'],
  store: ['core', 'api'],
  executor: ['core'],
  distribution: ['core', 'image'],
  server: ['core', 'api', 'image', 'store', 'distribution', 'executor'],
  agent: ['core', 'api', 'image', 'distribution', 'executor'],
  cli: ['core', 'api', 'image'],
};

/** Relative path from a file `depth` folders below src/ back up to src/. */
const up = (depth) => `(\\.\\./){${depth}}`;

/** The product never depends on what only develops, tests or shows it. */
const outsideProduct = {
  regex: '^(\\.\\./)+(test|bench|examples)(/|$)',
  message: 'src/ may not import tests, benchmarks or examples.',
};

/**
 * The rules for the files of one folder at one depth (1: src/server/x.ts, 2: src/server/http/x.ts):
 * a relative import that climbs out of the folder must name another folder's index.ts, and only
 * of a folder this one may import.
 */
function boundaryRules(folder, depth) {
  const forbidden = folders.filter((f) => f !== folder && !allowed[folder].includes(f));
  const patterns = [
    {
      regex: `^${up(depth)}(src/)?[a-z-]+/(?!index\\.js$).+`,
      message: 'Import another folder through its index.ts only.',
    },
    outsideProduct,
  ];
  if (forbidden.length > 0) {
    patterns.push({
      regex: `^${up(depth)}(${forbidden.join('|')})(/|$)`,
      message: `src/${folder} may import only: ${allowed[folder].join(', ') || 'nothing of ours'} (see docs/architecture.md).`,
    });
  }
  if (folder === 'core') {
    patterns.push({ regex: '^node:', message: 'core is pure: no I/O, no node: modules.' });
  }
  if (folder === 'core' || folder === 'api') {
    patterns.push({
      regex: '^(fastify|kysely|pg|@electric-sql/.*|commander)$',
      message: 'Keep this folder free of runtime infrastructure.',
    });
  }
  const files = depth === 1 ? `src/${folder}/*.ts` : `src/${folder}/${'*/'.repeat(depth - 1)}*.ts`;
  return {
    files: [files],
    ignores: [`src/${folder}/**/*.test.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  ...folders.flatMap((f) => [1, 2, 3].map((depth) => boundaryRules(f, depth))),
  {
    // The demo and the local fleet use the product as a user of its folders would.
    files: ['examples/**/*.ts', 'test/harness/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+src/[a-z-]+/(?!index\\.js$).+',
              message: 'Import a src/ folder through its index.ts only.',
            },
          ],
        },
      ],
    },
  },
  {
    // vitest's asymmetric matchers (expect.any, expect.stringContaining) are typed `any`.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
);
