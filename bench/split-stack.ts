/**
 * The production shape for the benchmarks: `bin/service.ts api` and `bin/service.ts worker` as two processes on one
 * PostgreSQL and one Temporal dev server, the five sandboxes beside them. Run by bench/stack.ts (`--shape split`)
 * in a process group of its own, configured like `bin/service.ts start` (DATA_DIR, API_PORT,
 * EMBEDDED_POSTGRES_PORT, TEMPORAL_DEV_PORT, TEMPORAL_UI_PORT, SANDBOX_BASE_PORT); this process holds PostgreSQL,
 * Temporal and the sandboxes, and its two children are the service, started as a deployment starts them (their
 * DATABASE_URL, TEMPORAL_ADDRESS and *_API_URL point here). BENCH_CPU_PROF_DIR: the children run with
 * `node --cpu-prof` and write their profiles into its api/ and worker/ folders when they stop. SIGTERM stops the API, the worker, then the rest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { configuredSandboxes, startSandboxes } from '../aggregators/sandboxes.js';
import { aggregatorUrlVariable, loadConfig } from '../config/index.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { AGGREGATORS } from '../domain/model.js';
import { withLocalSecrets } from '../lib/local-secrets.js';
import { createLogger } from '../lib/logger.js';
import { startDevServer } from '../temporal/dev-server.js';
import { installRuntimeLogger } from '../worker/index.js';

const root = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  // The keys are written into DATA_DIR once, here, before the two processes that read them start.
  const config = withLocalSecrets(loadConfig());
  const logger = createLogger(config.logLevel);
  installRuntimeLogger(logger);
  const stops: (() => Promise<unknown>)[] = [];
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    // The API first (nothing new comes in), then the worker, then what they used.
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
    }
    for (const s of stops.reverse()) await s().catch((error: unknown) => logger.warn({ error: String(error) }, 'stop failed'));
    process.exit(code);
  };
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));

  const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, logger });
  stops.push(() => pg.stop());
  const temporal = await startDevServer(config, logger);
  stops.push(() => temporal.stop());
  const sandboxes = await startSandboxes(configuredSandboxes(config));
  stops.push(() => Promise.allSettled(Object.values(sandboxes).map((s) => s.close())));

  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: pg.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
    ...Object.fromEntries(AGGREGATORS.map((a) => [aggregatorUrlVariable(a), sandboxes[a]?.url ?? ''])),
  };
  for (const role of ['worker', 'api'] as const) {
    // A folder per role: tsx's loader runs in a thread of its own, which writes a profile of its own beside the main one.
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, role)}`] : [];
    const child = spawn(process.execPath, ['--import', 'tsx', ...profile, 'bin/service.ts', role], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      logger.error({ role, code, signal }, 'a service process exited; stopping the stack');
      void stop(1);
    });
    children.push(child);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
