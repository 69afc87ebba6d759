import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'extensions/*/*.test.ts', 'tools/*/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Imports its JSON schema without an import attribute, which Node refuses; Vite's transform does not mind.
    server: { deps: { inline: ['@actions/workflow-parser'] } },
    reporters: ['default', './vitest.plain-summary.ts'],
  },
});
