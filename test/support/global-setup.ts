import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../db/embedded.js';
import { createLogger } from '../../lib/logger.js';
import { devServerExecutable } from '../../temporal/binaries.js';
import { ALL_SEARCH_ATTRIBUTES } from '../../temporal/search-attributes.js';
import { bundleWorkflows } from '../../worker/index.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server-level URL; each test file creates its own database on it. */
    postgresUrl: string;
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/**
 * Starts the real servers the integration tests share: one PostgreSQL (embedded unless TEST_DATABASE_URL names one)
 * and one Temporal dev server (unless TEST_TEMPORAL_ADDRESS names one), and bundles the workflows once. Each test file
 * then creates its own database and its own task queue, so files run in parallel without seeing each other.
 */
export default async function setup(project: TestProject) {
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aggregator-bookings-test-'));
  chmodSync(scratch, 0o755);

  let pg: EmbeddedPostgresHandle | undefined;
  let postgresUrl = process.env.TEST_DATABASE_URL;
  if (postgresUrl === undefined) {
    pg = await startEmbeddedPostgres({
      dataDir: path.join(scratch, 'postgres'),
      port: await freePort(),
      logger,
      persistent: false,
    });
    postgresUrl = pg.url;
  }

  // TEST_TEMPORAL_ADDRESS runs the suite against a server started elsewhere (e.g. scripts/temporal-postgres.sh, a
  // Temporal on PostgreSQL persistence) whose `default` namespace already has the search attributes; it is left running.
  const external = process.env.TEST_TEMPORAL_ADDRESS;
  const [temporal] = await Promise.all([
    external === undefined
      ? TestWorkflowEnvironment.createLocal({
          server: {
            executable: devServerExecutable(),
            ip: '127.0.0.1',
            searchAttributes: ALL_SEARCH_ATTRIBUTES,
            log: { format: 'json', level: 'error' },
          },
        })
      : undefined,
    bundleWorkflows(path.join(scratch, 'workflow-bundle.js')),
  ]);

  project.provide('postgresUrl', postgresUrl);
  const temporalAddress = temporal?.address ?? external;
  if (temporalAddress === undefined) throw new Error('no Temporal server: the dev server did not start');
  project.provide('temporalAddress', temporalAddress);
  project.provide('workflowBundlePath', path.join(scratch, 'workflow-bundle.js'));

  return async () => {
    await temporal?.teardown();
    await pg?.stop();
  };
}
