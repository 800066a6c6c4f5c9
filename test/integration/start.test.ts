import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { TEMPORAL_SDK_METRICS } from '../support/temporal-metrics.js';

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

/** Free ports and an empty data folder for one service. */
async function freshService(name: string) {
  const [api, pg, temporal, ui, metrics, temporalMetrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `aggregator-bookings-${name}-`));
  const env = {
    DATA_DIR: dataDir,
    API_PORT: String(api),
    EMBEDDED_POSTGRES_PORT: String(pg),
    TEMPORAL_DEV_PORT: String(temporal),
    TEMPORAL_UI_PORT: String(ui),
    SANDBOX_BASE_PORT: '0',
    METRICS_PORT: String(metrics),
    TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${temporalMetrics}`,
  };
  return { api, ui, metrics, temporalMetrics, dataDir, env };
}

describe('the service binary', () => {
  it('`start` brings up embedded PostgreSQL, the Temporal dev server with its UI, the worker and the API; stops on SIGTERM; restarts with its data', async () => {
    const { api, ui, metrics, temporalMetrics, dataDir, env } = await freshService('start');
    const base = `http://127.0.0.1:${api}`;
    let companyId = '';
    let companyKey = '';

    const first = run(['start'], env);
    try {
      const ready = await waitFor(`${base}/readyz`, 90_000);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });
      const uiPage = await waitFor(`http://127.0.0.1:${ui}/`, 30_000);
      expect(await uiPage.text()).toMatch(/<html/i);
      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string };
      expect(doc.openapi).toBe('3.1.0');
      expect(first.output()).toContain(`Temporal UI      http://127.0.0.1:${ui}`);
      const adminKey = readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
      expect(first.output()).not.toContain(adminKey);
      const created = await fetch(`${base}/v1/companies`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'Survives restarts' }),
      });
      expect(created.status).toBe(201);
      const body = (await created.json()) as { company: { id: string }; apiKey: { key: string } };
      companyId = body.company.id;
      companyKey = body.apiKey.key;

      // The Wellhub sandbox runs, and a connection with no URL of its own is pointed at it.
      const wellhubLine = /Wellhub\s+(http:\/\/127\.0\.0\.1:\d+)\s+\(externalVenueId=(\S+) apiToken=(\S+) /.exec(first.output());
      expect(wellhubLine, first.output()).not.toBeNull();
      const [, sandboxUrl, gymId, token] = wellhubLine as RegExpExecArray;
      const health = await fetch(`${sandboxUrl}/booking/v1/health`, { headers: { Authorization: `Bearer ${token}` } });
      expect(health.status).toBe(200);
      const headers = { Authorization: `Bearer ${companyKey}`, 'Content-Type': 'application/json' };
      const venue = await fetch(`${base}/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Hall', timeZone: 'Europe/Lisbon' }) });
      const venueId = ((await venue.json()) as { id: string }).id;
      const connection = await fetch(`${base}/v1/venues/${venueId}/connections`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ aggregator: 'wellhub', externalVenueId: gymId, credentials: { apiToken: token } }),
      });
      expect(((await connection.json()) as { effectiveApiBaseUrl: string }).effectiveApiBaseUrl).toBe(sandboxUrl);
      for (const name of ['ClassPass', 'EGYM Wellpass', 'Onefit', 'Workit']) expect(first.output()).toContain(`  ${name}`);

      // Metrics: the service's (API and worker in one process: one endpoint) on METRICS_PORT, not on the API's
      // port; the Temporal SDK's from its runtime's exporter, named as the dashboard and alerts expect.
      expect(first.output()).toContain(`Metrics          http://127.0.0.1:${metrics}/metrics`);
      expect(first.output()).toContain(`Temporal metrics http://127.0.0.1:${temporalMetrics}/metrics`);
      expect((await fetch(`${base}/metrics`)).status).toBe(404);
      const ours = await (await waitFor(`http://127.0.0.1:${metrics}/metrics`, 10_000)).text();
      expect(ours).toMatch(/^aggregator_bookings_ledger_read_up 1$/m);
      expect(ours).toContain('# TYPE aggregator_bookings_aggregator_requests_total counter');
      const sdk = await (await waitFor(`http://127.0.0.1:${temporalMetrics}/metrics`, 10_000)).text();
      const sdkTypes = [...sdk.matchAll(/^# TYPE (temporal_\w+) (\w+)$/gm)].map((m) => ({ name: m[1] as string, type: m[2] as string }));
      expect(sdkTypes.map((t) => t.name)).toContain('temporal_worker_task_slots_available');
      // The names the dashboard and alerts may select are the exporter's (an idle worker already shows several).
      expect(sdkTypes.filter((t) => TEMPORAL_SDK_METRICS.includes(t.name)).length).toBeGreaterThanOrEqual(5);
      // In seconds and with `_total` on counters, as ours and as the dashboard selects them.
      for (const { name, type } of sdkTypes) {
        if (type === 'counter') expect(name).toMatch(/_total$/);
        if (type === 'histogram') expect(name).toMatch(/_seconds$/);
      }
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited, first.output().slice(-3000)).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    const second = run(['start'], env);
    try {
      await waitFor(`${base}/readyz`, 60_000);
      const company = await fetch(`${base}/v1/companies/${companyId}`, { headers: { Authorization: `Bearer ${companyKey}` } });
      expect(company.status).toBe(200);
      expect(((await company.json()) as { name: string }).name).toBe('Survives restarts');
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
  }, 200_000);

  it('a clean stop (SIGTERM) logs nothing above info, and no log line carries an object graph', async () => {
    const { api, dataDir, env } = await freshService('stop');
    // Run as root, the service makes the data folder traversable for the postgres user once, with a warning (it
    // changes permissions on the operator's disk); a folder that already is one is the ordinary start.
    chmodSync(dataDir, 0o711);
    const service = run(['start'], env);
    try {
      await waitFor(`http://127.0.0.1:${api}/readyz`, 90_000);
    } finally {
      service.child.kill('SIGTERM');
    }
    expect(await service.exited).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
    const lines = service.output().split('\n').filter((line) => line.startsWith('{'));
    expect(lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    const loud = lines.filter((line) => ['warn', 'error', 'fatal'].includes((JSON.parse(line) as { level: string }).level));
    expect(loud).toEqual([]);
    const long = lines.filter((line) => line.length > 2000).map((line) => `${line.length}: ${line.slice(0, 300)}`);
    expect(long).toEqual([]);
  }, 120_000);

  it('refuses to start with an invalid variable and names it', async () => {
    const service = run(['start'], { API_PORT: 'not-a-port', DATABASE_URL: 'mysql://localhost/x' });
    expect(await service.exited).toBe(78);
    expect(service.output()).toMatch(/API_PORT/);
    expect(service.output()).toMatch(/DATABASE_URL: must be a postgres/);
  }, 30_000);
});
