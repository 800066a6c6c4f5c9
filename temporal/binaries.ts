import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

/**
 * Where scripts/install-temporal.sh puts the pinned Temporal binaries. The versions are read from the script
 * itself so the two can never disagree.
 */
// From sources (temporal/) or from the build (dist/temporal/), the script sits in the project's scripts/.
const installScript =
  [path.resolve(__dirname, '..', 'scripts'), path.resolve(__dirname, '..', '..', 'scripts')]
    .map((dir) => path.join(dir, 'install-temporal.sh'))
    .find((file) => existsSync(file)) ?? path.resolve(__dirname, '..', 'scripts', 'install-temporal.sh');

function pinned(name: 'CLI_VERSION' | 'TEST_SERVER_VERSION'): string {
  const text = readFileSync(installScript, 'utf8');
  const match = new RegExp(`^${name}="([^"]+)"`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`${name} not found in ${installScript}`);
  return match[1];
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.AGGREGATOR_BOOKINGS_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'aggregator-bookings')
  );
}

export function pinnedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), `temporal-cli-${pinned('CLI_VERSION')}`, 'temporal');
}

export function pinnedTestServerPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), `temporal-test-server-${pinned('TEST_SERVER_VERSION')}`, 'temporal-test-server');
}

/**
 * An explicit path wins, then the pinned binary from the cache; with neither, the SDK's own cached download
 * (which needs the internet) is left in place.
 */
function executable(explicit: string | undefined, cached: string): EphemeralServerExecutable {
  if (explicit !== undefined) return { type: 'existing-path', path: explicit };
  if (existsSync(cached)) return { type: 'existing-path', path: cached };
  return { type: 'cached-download' };
}

export function devServerExecutable(explicit?: string, env: NodeJS.ProcessEnv = process.env): EphemeralServerExecutable {
  return executable(explicit ?? env.TEMPORAL_CLI_PATH, pinnedCliPath(env));
}

export function testServerExecutable(env: NodeJS.ProcessEnv = process.env): EphemeralServerExecutable {
  return executable(env.TEMPORAL_TEST_SERVER_PATH, pinnedTestServerPath(env));
}
