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

  it('refuses a secrets key of the wrong size', () => {
    expect(() => loadConfig({ SECRETS_KEY: 'c2hvcnQ=' })).toThrow(/SECRETS_KEY/);
  });
});
