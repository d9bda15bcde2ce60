// Lint rules, including the layering of ARCHITECTURE.md: core imports no other top-level
// folder; agent, waypoint, cni and controller import only core; nothing on the data path imports controller.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const layer = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((dir) => ({
          group: [`**/${dir}/*`, `**/${dir}`],
          message: `layering: ${files[0].split('/')[0]} must not import ${dir}/ (see docs/ARCHITECTURE.md, Layout)`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'build/**',
      'tmp/**',
      'node_modules/**',
      'agent/native/build/**',
      'bench/results/**',
      'deploy/**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  layer(['core/**/*.ts'], ['agent', 'waypoint', 'cni', 'controller', 'ctl']),
  layer(['agent/**/*.ts'], ['waypoint', 'cni', 'controller', 'ctl']),
  layer(['waypoint/**/*.ts'], ['agent', 'cni', 'controller', 'ctl']),
  layer(['cni/**/*.ts'], ['agent', 'waypoint', 'controller', 'ctl']),
  layer(['controller/**/*.ts'], ['agent', 'waypoint', 'cni', 'ctl']),
);
