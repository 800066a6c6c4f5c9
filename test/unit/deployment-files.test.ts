import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../config/index.js';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: { test: string[] };
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
  const { services } = compose;

  it('has PostgreSQL, a Temporal server on PostgreSQL, the Temporal UI, the API, the worker and Prometheus', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'postgres', 'prometheus', 'temporal', 'temporal-ui', 'worker']);
    expect(services.postgres?.image).toMatch(/^postgres:\d+/);
    expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(services['temporal-ui']?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(Object.keys(compose.volumes)).toContain('postgres-data');
  });

  it('builds the API and the worker from the Dockerfile with the roles the binary knows', () => {
    const entry = /ENTRYPOINT \["node", "dist\/bin\/service.js"\]/.test(read('Dockerfile'));
    expect(entry).toBe(true);
    expect(services.api?.build).toBe('.');
    expect(services.worker?.build).toBe('.');
    expect(services.api?.command).toEqual(['api']);
    expect(services.worker?.command).toEqual(['worker']);
    expect(read('bin/service.ts')).toMatch(/const ROLES: Role\[\] = \['start', 'api', 'worker', 'migrate'\]/);
  });

  it('starts the API and the worker after healthy dependencies', () => {
    for (const name of ['api', 'worker', 'temporal']) {
      const deps = services[name]?.depends_on ?? {};
      expect(deps.postgres?.condition, name).toBe('service_healthy');
    }
    expect(services.api?.depends_on?.temporal?.condition).toBe('service_healthy');
    expect(services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('gives the API and the worker a configuration the service accepts in production', () => {
    for (const name of ['api', 'worker']) {
      const env = services[name]?.environment ?? {};
      const unknown = Object.keys(env).filter((key) => !CONFIG_VARIABLES.includes(key));
      expect(unknown, `${name} sets variables the service does not read`).toEqual([]);
      const resolved = Object.fromEntries(
        Object.entries(env).map(([key, value]) => [
          key,
          String(value).replace(/\$\{(\w+)(?::[-?][^}]*)?\}/g, (_m, v: string) =>
            v === 'SECRETS_KEY' ? 'q'.repeat(43) + '=' : v === 'ADMIN_API_KEY' ? 'a'.repeat(32) : v === 'SYNC_INTERVAL' ? '30m' : 'info',
          ),
        ]),
      );
      const config = loadConfig(resolved);
      expect(config.env).toBe('production');
      expect(config.temporal.address).toBe('temporal:7233');
      expect(config.database.url).toMatch(/@postgres:5432\//);
    }
    expect(services.api?.environment?.ADMIN_API_KEY).toMatch(/^\$\{ADMIN_API_KEY:\?/);
  });

  it('lets Prometheus scrape the metrics listeners the API and the worker open, with the alert rules loaded', () => {
    const prometheus = services.prometheus as ComposeService & { volumes?: string[] };
    expect(prometheus.volumes).toContain('./ops/prometheus:/etc/prometheus:ro');
    const config = parse(read('ops/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    for (const file of config.rule_files) expect(() => read(path.join('ops/prometheus', file))).not.toThrow();
    const targets = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((c) => c.targets)]));
    // The metrics variables as the service reads them (the others need the .env values resolved: tested above).
    const env = (name: string) =>
      loadConfig(
        Object.fromEntries(
          Object.entries(services[name]?.environment ?? {})
            .filter(([key]) => /^(METRICS_|WORKER_METRICS_|TEMPORAL_METRICS_)/.test(key))
            .map(([key, value]) => [key, String(value)]),
        ),
      );
    const api = env('api').metrics;
    const worker = env('worker').metrics;
    expect(api.host).toBe('0.0.0.0');
    expect(targets['aggregator-bookings-api']).toEqual([`api:${api.apiPort}`]);
    expect(targets['aggregator-bookings-worker']).toEqual([`worker:${worker.workerPort}`]);
    expect(targets['aggregator-bookings-temporal-sdk']).toEqual([`worker:${worker.temporalBindAddress?.split(':')[1]}`]);
    expect(worker.temporalBindAddress).toMatch(/^0\.0\.0\.0:/);
  });
});

describe('.env.example', () => {
  it('lists every variable the service reads, and nothing else', () => {
    const listed = read('.env.example')
      .split('\n')
      .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    expect([...listed].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('is documented variable by variable in the README configuration table', () => {
    const readme = read('README.md');
    for (const name of CONFIG_VARIABLES) expect(readme, name).toContain(`\`${name}\``);
  });
});
