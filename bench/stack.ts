/**
 * Starts the whole local stack as a user would (`npx tsx bin/service.ts start`, what `npm start` runs after installing
 * what is missing) on a throw-away DATA_DIR and free ports, and stops it cleanly: SIGTERM to the service's own node
 * process (it stops the API, the worker, then PostgreSQL and Temporal), then the process group if it lingers. The same
 * approach as scripts/schemathesis.sh, in TypeScript.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AGGREGATORS, type Aggregator } from '../domain/model.js';

export interface Stack {
  apiUrl: string;
  dataDir: string;
  logFile: string;
  adminKey: string;
  /** Base URL of each aggregator's sandbox (SANDBOX_BASE_PORT + index, in the order of AGGREGATORS). */
  sandboxUrls: Record<Aggregator, string>;
  ports: { api: number; postgres: number; temporal: number; temporalUi: number; sandboxBase: number };
  /** The service's process group (every process of the stack: the service, PostgreSQL, Temporal), when known. */
  pgid?: number | undefined;
  /** Stops the service and deletes the throw-away folder; safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * single: `bin/service.ts start`, everything in one process, as `npm start` runs it; split: the production shape,
 * `bin/service.ts api` and `bin/service.ts worker` in processes of their own (bench/split-stack.ts).
 */
export type StackShape = 'single' | 'split';
export const STACK_SHAPES: readonly StackShape[] = ['single', 'split'];

export interface StackOptions {
  /** How long the service may take until /readyz answers 200 (default 180 s: a cold start on a loaded machine). */
  readyTimeoutMs?: number;
  progress: (message: string) => void;
  shape?: StackShape;
  /** split only: the service's processes run with `node --cpu-prof` and write their profiles here as they stop. */
  cpuProfileDir?: string | undefined;
}

const COMMANDS: Record<StackShape, string[]> = {
  single: ['tsx', 'bin/service.ts', 'start'],
  split: ['tsx', 'bench/split-stack.ts'],
};

const root = path.resolve(__dirname, '..');
const HOST = '127.0.0.1';

/**
 * Settings a developer's environment could carry that would point the stack at their database, Temporal or real
 * aggregators, replace the generated keys or change what is measured: removed before the service starts.
 */
const SCRUBBED_ENV = [
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CERT_PATH',
  'TEMPORAL_TLS_KEY_PATH',
  'TEMPORAL_TLS_CA_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_UI_URL',
  'ADMIN_API_KEY',
  'SECRETS_KEY',
  'PUBLIC_BASE_URL',
  'API_HOST',
  'SYNC_INTERVAL',
  'BOOKING_HORIZON_DAYS',
  'SANDBOX_HOST',
  'SANDBOXES',
  'WELLHUB_API_URL',
  'CLASSPASS_API_URL',
  'EGYM_WELLPASS_API_URL',
  'ONEFIT_API_URL',
  'WORKIT_API_URL',
  'BENCH_CPU_PROF_DIR',
];

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

const close = (servers: Server[]) => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));

/**
 * Four free ports and a block of five consecutive free ports (the sandboxes'), all held together while they are
 * picked so that none is handed out twice, then released for the service.
 */
async function pickPorts(): Promise<Stack['ports']> {
  const held: Server[] = [];
  try {
    const single: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const server = await listen(0);
      if (!server) throw new Error('no free port on 127.0.0.1');
      held.push(server);
      const address = server.address();
      single.push(typeof address === 'object' && address !== null ? address.port : 0);
    }
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const base = 20_000 + Math.floor(Math.random() * 30_000);
      const block: Server[] = [];
      for (let i = 0; i < AGGREGATORS.length; i += 1) {
        const server = single.includes(base + i) ? undefined : await listen(base + i);
        if (!server) break;
        block.push(server);
      }
      held.push(...block);
      if (block.length === AGGREGATORS.length) {
        const [api, postgres, temporal, temporalUi] = single as [number, number, number, number];
        return { api, postgres, temporal, temporalUi, sandboxBase: base };
      }
    }
    throw new Error('found no five consecutive free ports for the sandboxes');
  } finally {
    await close(held);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Linux: the processes of a process group, with their parent and command line. */
export function groupProcesses(pgid: number): { pid: number; ppid: number; args: string }[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const found: { pid: number; ppid: number; args: string }[] = [];
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // After "pid (comm) ": state ppid pgrp ... (comm may hold spaces and parentheses).
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      found.push({ pid: Number(name), ppid: Number(fields[1]), args });
    } catch {
      // The process ended while it was read.
    }
  }
  return found;
}

/**
 * The node process that runs bin/service.ts: the innermost process of the group whose command line names it
 * (npx > sh > tsx > node). Signalling only the outer npx would not reach it.
 */
function serviceProcess(pgid: number, command: string): number | undefined {
  const candidates = groupProcesses(pgid).filter((p) => p.args.includes(command));
  const leaf = candidates.find((p) => !candidates.some((q) => q.ppid === p.pid));
  return leaf?.pid;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone already.
  }
}

/** The stops of the stacks started and not yet stopped, for a signal handler. */
const running = new Set<() => Promise<void>>();

/** Stops every stack this process started (on Ctrl-C, SIGTERM, or an unexpected error). */
export async function stopAllStacks(): Promise<void> {
  await Promise.allSettled([...running].map((stop) => stop()));
}

export function logTail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts the stack; a start that fails is tried once more on other ports (the ports are free when picked, but
 * another process on a shared machine can take one before the service binds it).
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  try {
    return await startOnce(options);
  } catch (error) {
    options.progress(`the stack did not start (${error instanceof Error ? error.message : String(error)}); trying once more on other ports`);
    return startOnce(options);
  }
}

async function startOnce(options: StackOptions): Promise<Stack> {
  const { progress } = options;
  const command = COMMANDS[options.shape ?? 'single'];
  const marker = command.slice(1).join(' ');
  const work = mkdtempSync(path.join(os.tmpdir(), 'aggregator-bookings-bench-'));
  const dataDir = path.join(work, 'data');
  const logFile = path.join(work, 'service.log');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let exitCode: number | null | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= stopNow().finally(() => running.delete(stop));
    return stopping;
  };
  running.add(stop);

  const stopNow = async (): Promise<void> => {
    const pgid = child?.pid;
    if (child && pgid !== undefined) {
      if (exitCode === undefined) {
        // SIGTERM to the service itself: it stops in order and the wrappers around it exit with it. Before it
        // runs (or off Linux), the whole group gets the signal.
        const target = serviceProcess(pgid, marker);
        try {
          if (target !== undefined) process.kill(target, 'SIGTERM');
          else killGroup(pgid, 'SIGTERM');
        } catch {
          // It ended meanwhile.
        }
        const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
        if (!done) {
          progress('the service did not stop within 30 s of SIGTERM; killing its process group');
          killGroup(pgid, 'SIGKILL');
          await Promise.race([exited, sleep(5_000)]);
        }
      }
      // Anything of the group still running (a child the service could not stop) goes too.
      for (let i = 0; i < 50 && groupAlive(pgid); i += 1) await sleep(100);
      if (groupAlive(pgid)) {
        progress('processes of the service were left after it stopped; killing its process group');
        killGroup(pgid, 'SIGKILL');
        for (let i = 0; i < 50 && groupAlive(pgid); i += 1) await sleep(100);
      }
    }
    for (let i = 0; i < 5; i += 1) {
      try {
        rmSync(work, { recursive: true, force: true });
        break;
      } catch {
        await sleep(200);
      }
    }
  };

  try {
    const ports = await pickPorts();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of SCRUBBED_ENV) delete env[name];
    Object.assign(env, {
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      API_PORT: String(ports.api),
      EMBEDDED_POSTGRES_PORT: String(ports.postgres),
      TEMPORAL_DEV_PORT: String(ports.temporal),
      TEMPORAL_UI_PORT: String(ports.temporalUi),
      SANDBOX_BASE_PORT: String(ports.sandboxBase),
      // Fixed default ports would clash between the split stack's processes and with anything else on the machine.
      METRICS_PORT: 'off',
      WORKER_METRICS_PORT: 'off',
      TEMPORAL_METRICS_BIND_ADDRESS: 'off',
      ...(options.cpuProfileDir ? { BENCH_CPU_PROF_DIR: options.cpuProfileDir } : {}),
    });
    const apiUrl = `http://${HOST}:${ports.api}`;
    progress(`starting the service (npx ${command.join(' ')}), DATA_DIR=${dataDir}, API ${apiUrl}, PostgreSQL port ${ports.postgres}, Temporal port ${ports.temporal}, sandboxes from port ${ports.sandboxBase}`);
    const log = openSync(logFile, 'a');
    try {
      // Its own process group (detached), so that it can be found and, if need be, killed with all its children;
      // a Ctrl-C in the terminal reaches this process, which stops it in order.
      child = spawn('npx', command, { cwd: root, env, detached: true, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const spawned = child;
    exited = new Promise((resolve) => {
      spawned.once('exit', (code) => {
        exitCode = code;
        resolve();
      });
      spawned.once('error', (error) => {
        progress(`could not start npx: ${error.message}`);
        exitCode = -1;
        resolve();
      });
    });

    const readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the service exited (code ${exitCode}) before /readyz answered 200`);
      if (Date.now() > deadline) throw new Error(`/readyz did not answer 200 within ${readyTimeoutMs / 1000} s`);
      const status = await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      await sleep(250);
    }
    const adminKey = readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
    const sandboxUrls = Object.fromEntries(AGGREGATORS.map((aggregator, index) => [aggregator, `http://${HOST}:${ports.sandboxBase + index}`])) as Record<
      Aggregator,
      string
    >;
    return { apiUrl, dataDir, logFile, adminKey, sandboxUrls, ports, pgid: child?.pid, stop };
  } catch (error) {
    progress(`the stack did not start; last lines of the service log:\n${logTail(logFile)}`);
    await stop();
    throw error;
  }
}
