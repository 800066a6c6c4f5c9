import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/index.js';

describe('config', () => {
  it('has working defaults for local use', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      env: 'development',
      dataDir: '/srv/app/.data',
      api: { host: '127.0.0.1', port: 3000 },
      database: { url: undefined, embeddedPort: 54329 },
      temporal: { address: undefined, namespace: 'default', taskQueue: 'aggregator-bookings', tls: false },
      sync: { intervalMs: 30 * 60_000 },
    });
  });

  it('names every invalid variable', () => {
    try {
      loadConfig({ API_PORT: 'eighty', DATABASE_URL: 'mysql://x', SYNC_INTERVAL: '5 minutes', LOG_LEVEL: 'loud' });
      expect.unreachable('should have thrown');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of ['API_PORT', 'DATABASE_URL', 'SYNC_INTERVAL', 'LOG_LEVEL']) expect(message).toContain(name);
    }
  });

  it('refuses port 0 where other processes must find the port (the embedded PostgreSQL, the Temporal dev server and UI), and names it', () => {
    for (const name of ['EMBEDDED_POSTGRES_PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT']) {
      expect(() => loadConfig({ [name]: '0' }), name).toThrow(name);
    }
    // Where 0 means any free port, printed at start.
    expect(loadConfig({ API_PORT: '0' }).api.port).toBe(0);
    expect(loadConfig({ SANDBOX_BASE_PORT: '0' }).aggregators.sandboxBasePort).toBe(0);
  });

  it('reads where metrics are served: a port, any free port (0) or off, and the Temporal exporter as host:port or off', () => {
    expect(loadConfig({}).metrics).toEqual({ host: '127.0.0.1', apiPort: 9461, workerPort: 9462, temporalBindAddress: '127.0.0.1:9464' });
    expect(loadConfig({ METRICS_PORT: 'off', WORKER_METRICS_PORT: '0', TEMPORAL_METRICS_BIND_ADDRESS: 'off', METRICS_HOST: '0.0.0.0' }).metrics).toEqual({
      host: '0.0.0.0',
      apiPort: undefined,
      workerPort: 0,
      temporalBindAddress: undefined,
    });
    expect(loadConfig({ METRICS_PORT: '', TEMPORAL_METRICS_BIND_ADDRESS: '[::1]:9999' }).metrics).toMatchObject({ apiPort: 9461, temporalBindAddress: '[::1]:9999' });
    for (const [name, value] of [
      ['METRICS_PORT', '70000'],
      ['WORKER_METRICS_PORT', 'nine'],
      ['TEMPORAL_METRICS_BIND_ADDRESS', 'http://127.0.0.1:9464'],
      ['TEMPORAL_METRICS_BIND_ADDRESS', '127.0.0.1'],
      ['TEMPORAL_METRICS_BIND_ADDRESS', '127.0.0.1:99999'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(new RegExp(`${name}: `));
    }
  });

  it('requires the secrets and external services in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/ADMIN_API_KEY.*\n.*SECRETS_KEY.*\n.*DATABASE_URL.*\n.*TEMPORAL_ADDRESS/s);
  });

  it('reads durations and Temporal Cloud settings', () => {
    const config = loadConfig({ SYNC_INTERVAL: '45s', TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' });
    expect(config.sync.intervalMs).toBe(45_000);
    expect(config.temporal.tls).not.toBe(false);
    expect(config.temporal.apiKey).toBe('k');
  });

  it('wants a TLS certificate and key together', () => {
    expect(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/c.pem' })).toThrow(/TEMPORAL_TLS_KEY_PATH/);
  });

  const PRODUCTION = {
    NODE_ENV: 'production',
    ADMIN_API_KEY: 'a'.repeat(24),
    SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'),
    DATABASE_URL: 'postgres://u:p@db:5432/x',
    TEMPORAL_ADDRESS: 'temporal:7233',
  };

  it('refuses, in production, an aggregator URL that is not https or points at a non-public address, naming the variable', () => {
    const refused: Array<[string, string, RegExp]> = [
      ['WELLHUB_API_URL', 'http://api.wellhub.example/', /WELLHUB_API_URL: must use https in production/],
      ['CLASSPASS_API_URL', 'https://169.254.169.254/', /CLASSPASS_API_URL: must not point at 169\.254\.169\.254, a cloud metadata/],
      ['ONEFIT_API_URL', 'https://10.1.2.3/', /ONEFIT_API_URL: must not point at 10\.1\.2\.3, a private-network address/],
      ['WORKIT_API_URL', 'https://localhost:4104/', /WORKIT_API_URL: must not point at localhost, a loopback address/],
      ['EGYM_WELLPASS_API_URL', 'https://[::ffff:127.0.0.1]/', /EGYM_WELLPASS_API_URL: must not point at ::ffff:7f00:1, a loopback/],
      ['WELLHUB_API_URL', 'https://user:pw@api.wellhub.example/', /WELLHUB_API_URL: must not carry credentials/],
    ];
    for (const [name, url, why] of refused) {
      expect(() => loadConfig({ ...PRODUCTION, [name]: url }), url).toThrow(why);
    }
    const config = loadConfig({ ...PRODUCTION, WELLHUB_API_URL: 'https://api.wellhub.example/', ONEFIT_API_URL: 'https://10.1.2.3/', AGGREGATOR_HOST_ALLOWLIST: ' 10.1.2.3 , Gateway.Internal. ' });
    expect(config.aggregators.apiUrls).toEqual({ wellhub: 'https://api.wellhub.example/', onefit: 'https://10.1.2.3/' });
    expect(config.aggregators.outbound).toEqual({ production: true, allowHosts: ['10.1.2.3', 'gateway.internal'] });
  });

  it('keeps loopback aggregator URLs (the sandboxes) outside production, but never cloud metadata', () => {
    expect(loadConfig({ WORKIT_API_URL: 'http://127.0.0.1:4104' }).aggregators).toMatchObject({
      apiUrls: { workit: 'http://127.0.0.1:4104' },
      outbound: { production: false, allowHosts: [] },
    });
    expect(() => loadConfig({ WORKIT_API_URL: 'http://169.254.169.254/' })).toThrow(/WORKIT_API_URL: must not point at 169\.254\.169\.254/);
  });

  it('wants hosts, not URLs, in AGGREGATOR_HOST_ALLOWLIST', () => {
    expect(() => loadConfig({ AGGREGATOR_HOST_ALLOWLIST: 'https://gateway.internal/' })).toThrow(/AGGREGATOR_HOST_ALLOWLIST/);
    expect(loadConfig({ AGGREGATOR_HOST_ALLOWLIST: '[fd00::1],fd00::1' }).aggregators.outbound.allowHosts).toEqual(['fd00::1']);
  });

  it('refuses a secrets key of the wrong size', () => {
    expect(() => loadConfig({ SECRETS_KEY: 'c2hvcnQ=' })).toThrow(/SECRETS_KEY/);
  });
});
