import { defineConfig } from 'vitest/config';

/**
 * `npm run test:reliability`: the service as separate OS processes under faults (test/reliability/). One file at a
 * time: each scenario loads the two cores on purpose. RELIABILITY_SHORT=1 runs the shorter loads CI uses.
 */
export default defineConfig({
  test: {
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'faults', include: ['test/reliability/faults.test.ts'] } },
      { extends: true, test: { name: 'fuzz', globalSetup: ['test/support/global-setup.ts'], include: ['test/reliability/webhook-fuzz.test.ts'] } },
    ],
  },
});
