import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.js';

/**
 * Outside production, a missing SECRETS_KEY or ADMIN_API_KEY is generated once and kept in the data folder
 * (mode 0600), so a fresh machine runs with no set-up and restarts keep the same keys.
 * Production refuses to start without them (see config).
 */
export function withLocalSecrets(config: Config): Config & { adminApiKeyFile?: string } {
  if (config.env === 'production') return config;
  mkdirSync(config.dataDir, { recursive: true });
  const read = (file: string, make: () => string): string => {
    const full = path.join(config.dataDir, file);
    if (existsSync(full)) return readFileSync(full, 'utf8').trim();
    const value = make();
    writeFileSync(full, `${value}\n`, { mode: 0o600 });
    return value;
  };
  const secretsKey = config.secretsKey ?? read('secrets.key', () => randomBytes(32).toString('base64'));
  const adminFile = path.join(config.dataDir, 'admin-api-key');
  const adminApiKey = config.api.adminApiKey ?? read('admin-api-key', () => `admin_${randomBytes(24).toString('base64url')}`);
  return {
    ...config,
    secretsKey,
    api: { ...config.api, adminApiKey },
    ...(config.api.adminApiKey === undefined ? { adminApiKeyFile: adminFile } : {}),
  };
}
