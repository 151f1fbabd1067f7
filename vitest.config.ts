import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real agent processes: keep the two cores from being oversubscribed.
    maxWorkers: 2,
    fileParallelism: true,
    projects: [
      {
        extends: true,
        // Unit tests beside the code: no database server, no agent processes.
        test: { name: 'unit', include: ['src/**/*.test.ts'] },
      },
      {
        extends: true,
        // Integration tests against real parts: one throwaway PostgreSQL for the whole run.
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
