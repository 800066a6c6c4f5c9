import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

const root = path.resolve(__dirname, '../..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');

function run(args: string[], env: Record<string, string>) {
  const child = spawn(tsx, ['bin/service.ts', ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return res;
      last = res.status;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} not ready: ${String(last)}`);
}

describe('the service binary', () => {
  it('`start` brings up embedded PostgreSQL, the Temporal dev server with its UI, the worker and the API, and stops on SIGTERM', async () => {
    const [api, pg, temporal, ui] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aggregator-bookings-start-'));
    const service = run(['start'], {
      DATA_DIR: dataDir,
      API_PORT: String(api),
      EMBEDDED_POSTGRES_PORT: String(pg),
      TEMPORAL_DEV_PORT: String(temporal),
      TEMPORAL_UI_PORT: String(ui),
    });
    try {
      const ready = await waitFor(`http://127.0.0.1:${api}/readyz`, 90_000);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });
      const uiPage = await waitFor(`http://127.0.0.1:${ui}/`, 30_000);
      expect(await uiPage.text()).toMatch(/<html/i);
      const doc = (await (await fetch(`http://127.0.0.1:${api}/openapi.json`)).json()) as { openapi: string };
      expect(doc.openapi).toBe('3.1.0');
      expect(service.output()).toContain(`Temporal UI      http://127.0.0.1:${ui}`);
      expect(service.output()).not.toMatch(/admin_[A-Za-z0-9_-]{20,}/);
    } finally {
      service.child.kill('SIGTERM');
    }
    expect(await service.exited).toBe(0);
    expect(service.output()).toContain('"msg":"stopped"');
    rmSync(dataDir, { recursive: true, force: true });
  }, 150_000);

  it('refuses to start with an invalid variable and names it', async () => {
    const service = run(['start'], { API_PORT: 'not-a-port', DATABASE_URL: 'mysql://localhost/x' });
    expect(await service.exited).toBe(78);
    expect(service.output()).toMatch(/API_PORT/);
    expect(service.output()).toMatch(/DATABASE_URL: must be a postgres/);
  }, 30_000);
});
