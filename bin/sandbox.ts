import { ConfigError, loadConfig } from '../config/index.js';
import { configuredSandboxes, describeSandboxes, startSandboxes } from '../aggregators/sandboxes.js';

/**
 * `npm run sandbox`: every aggregator's sandbox on its own port (SANDBOX_BASE_PORT + its index), sending webhooks to
 * the service's API (API_HOST:API_PORT). Runs until Ctrl-C.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78);
    }
    throw error;
  }
  const sandboxes = await startSandboxes(configuredSandboxes(config));
  process.stdout.write(
    ['Aggregator sandboxes (sandbox-only credentials):', ...describeSandboxes(sandboxes), '  control API: <url>/__sandbox/{calls,state,reset,faults,...}', ''].join('\n') + '\n',
  );
  const stop = async () => {
    await Promise.allSettled(Object.values(sandboxes).map((s) => s.close()));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

void main();
