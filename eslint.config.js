import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Modules are reached only through their index.ts (ARCHITECTURE §2): from outside
 * (`modules/<name>/<file>`) or from a sibling module (`../<name>/<file>`).
 */
const moduleBoundary = {
  patterns: [
    {
      regex: '(^|/)modules/[^/]+/(?!index\\.js$)[^/]+$',
      message: 'Import another module through its index.ts, not its internals.',
    },
  ],
};
const siblingBoundary = {
  patterns: [
    ...moduleBoundary.patterns,
    {
      regex: '^\\.\\./[^./][^/]*/(?!index\\.js$)[^/]+$',
      message: 'Import another module through its index.ts, not its internals.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'tmp/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['bin/*.js', 'scripts/*.cjs', 'eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/no-redundant-type-constituents': 'off',
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', moduleBoundary] },
  },
  {
    files: ['src/modules/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', siblingBoundary] },
  },
  {
    files: ['bin/*.js', 'scripts/*.cjs', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // CommonJS preloads handed to other programs (e.g. openactive-test-suite via node -r).
    files: ['scripts/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        exports: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
