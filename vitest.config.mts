import { configDefaults, defineConfig } from 'vitest/config';

/** Files that load the machine on purpose (hundreds of racing requests): run alone, after everything else. */
const LOAD_TESTS = ['test/integration/booking-concurrency.test.ts'];
/** The reliability suite runs the service as processes under faults: its own command (`npm run test:reliability`). */
const RELIABILITY = 'test/reliability/**';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files share one PostgreSQL and one Temporal dev server; two cores, so two forks.
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['verbose'] : ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'main', globalSetup: ['test/support/global-setup.ts'], include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...LOAD_TESTS, RELIABILITY], sequence: { groupOrder: 0 } },
      },
      // A burst on two cores would starve the timing-sensitive tests around it (Onefit answers within one second).
      { extends: true, test: { name: 'load', globalSetup: ['test/support/global-setup.ts'], include: LOAD_TESTS, sequence: { groupOrder: 1 } } },
    ],
  },
});
