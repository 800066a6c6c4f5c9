/**
 * Starts and describes the aggregators' sandboxes (runnable in-memory fakes of their APIs). Sandbox-only: loaded by
 * `npm run sandbox` (bin/sandbox.ts), by `npm start` through a dynamic import when it runs sandboxes, and by tests;
 * production code imports aggregators/registry.ts, which imports no sandbox.
 */
import { AGGREGATORS, type Aggregator } from '../domain/model.js';
import type { Config } from '../config/index.js';
import { startClasspassSandbox } from './classpass/sandbox/index.js';
import { startEgymWellpassSandbox } from './egym_wellpass/sandbox/index.js';
import { startOnefitSandbox } from './onefit/sandbox/index.js';
import { AGGREGATOR_MODULES, type SandboxEndpoint } from './registry.js';
import { startWellhubSandbox } from './wellhub/sandbox/index.js';
import { DEFAULT_SANDBOX_GYMS } from './wellhub/sandbox/store.js';
import { startWorkitSandbox } from './workit/sandbox/index.js';

/** What a connection needs to use a running sandbox: its base URL and the credentials it accepts. */
export interface RunningSandbox extends SandboxEndpoint {
  aggregator: Aggregator;
  url: string;
  /** The venue id, token, webhook secret and settings the sandbox is seeded with (sandbox-only values). */
  connection: { externalVenueId: string; apiToken: string; webhookSecret: string; settings: Record<string, unknown> };
  close(): Promise<void>;
}

export interface SandboxStartOptions {
  host: string;
  port: number;
  /** Where the sandbox sends its webhooks (the service's /webhooks/<aggregator>). */
  webhookUrl?: string | undefined;
  /** The venue the sandbox is seeded with, instead of the default (Wellhub: a numeric gym id). */
  externalVenueId?: string | undefined;
}

type StartSandbox = (options: SandboxStartOptions) => Promise<RunningSandbox>;

/** Sandbox-only credentials for the generic partner sandboxes; they open nothing real. */
const partnerSandboxCredentials = (aggregator: Aggregator) => ({
  externalVenueId: `${aggregator}-sandbox-venue`,
  apiToken: `${aggregator}-sandbox-token`,
  webhookSecret: `${aggregator}-sandbox-secret`,
});

function partnerSandbox(aggregator: Aggregator, start: typeof startClasspassSandbox): StartSandbox {
  return async ({ host, port, webhookUrl, externalVenueId }) => {
    const credentials = { ...partnerSandboxCredentials(aggregator), ...(externalVenueId ? { externalVenueId } : {}) };
    const sandbox = await start({
      host,
      port,
      apiToken: credentials.apiToken,
      webhookSecret: credentials.webhookSecret,
      webhookUrl,
      venues: [credentials.externalVenueId],
    });
    return { aggregator, url: sandbox.url, connection: { ...credentials, settings: {} }, close: () => sandbox.close() };
  };
}

/** How to start each aggregator's sandbox, by id (every aggregator has one). */
export const SANDBOX_STARTERS: Readonly<Record<Aggregator, StartSandbox>> = {
  async wellhub({ host, port, webhookUrl, externalVenueId }) {
    const gyms = externalVenueId ? DEFAULT_SANDBOX_GYMS.map((gym) => ({ ...gym, id: Number(externalVenueId) })) : undefined;
    const sandbox = await startWellhubSandbox({ host, port, ...(webhookUrl ? { webhookUrl } : {}), ...(gyms ? { gyms } : {}) });
    const ctx = sandbox.connection();
    return {
      aggregator: 'wellhub',
      url: sandbox.url,
      connection: {
        externalVenueId: ctx.externalVenueId,
        apiToken: ctx.credentials.apiToken ?? '',
        webhookSecret: ctx.credentials.webhookSecret ?? '',
        settings: ctx.settings,
      },
      close: () => sandbox.close(),
    };
  },
  classpass: partnerSandbox('classpass', startClasspassSandbox),
  egym_wellpass: partnerSandbox('egym_wellpass', startEgymWellpassSandbox),
  onefit: partnerSandbox('onefit', startOnefitSandbox),
  workit: partnerSandbox('workit', startWorkitSandbox),
};

/** Lines that tell a person where each sandbox is and which (sandbox-only) credentials a connection to it needs. */
export function describeSandboxes(sandboxes: Partial<Record<Aggregator, RunningSandbox>>): string[] {
  return Object.values(sandboxes).map((s) => {
    const { externalVenueId, apiToken, webhookSecret, settings } = s.connection;
    const extra = Object.keys(settings).length > 0 ? ` settings=${JSON.stringify(settings)}` : '';
    return `  ${AGGREGATOR_MODULES[s.aggregator].displayName.padEnd(14)} ${s.url}  (externalVenueId=${externalVenueId} apiToken=${apiToken} webhookSecret=${webhookSecret}${extra})`;
  });
}

/**
 * The sandboxes as the configuration places them: every aggregator but those in `skip` (the ones with a URL of their
 * own), on the configured host and ports, sending their webhooks to the configured API.
 */
export function configuredSandboxes(config: Config, skip: Partial<Record<Aggregator, string>> = {}): Parameters<typeof startSandboxes>[0] {
  return {
    aggregators: AGGREGATORS,
    skip,
    host: config.aggregators.sandboxHost,
    basePort: config.aggregators.sandboxBasePort,
    webhookBaseUrl: `http://${config.api.host}:${config.api.port}`,
  };
}

/**
 * Starts a sandbox for every aggregator that has no configured URL, on consecutive ports from `basePort`
 * (in the order of the aggregator list, so each keeps its port whatever else is configured).
 */
export async function startSandboxes(options: {
  aggregators: readonly Aggregator[];
  skip: Partial<Record<Aggregator, string>>;
  host: string;
  basePort: number;
  webhookBaseUrl?: string | undefined;
}): Promise<Partial<Record<Aggregator, RunningSandbox>>> {
  const started: Partial<Record<Aggregator, RunningSandbox>> = {};
  try {
    for (const [index, aggregator] of options.aggregators.entries()) {
      if (options.skip[aggregator] !== undefined) continue;
      started[aggregator] = await SANDBOX_STARTERS[aggregator]({
        host: options.host,
        port: options.basePort === 0 ? 0 : options.basePort + index,
        webhookUrl: options.webhookBaseUrl ? `${options.webhookBaseUrl}/webhooks/${aggregator}` : undefined,
      });
    }
  } catch (error) {
    await Promise.allSettled(Object.values(started).map((s) => s.close()));
    throw error;
  }
  return started;
}
