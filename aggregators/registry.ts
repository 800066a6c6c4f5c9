import type { Aggregator } from '../domain/model.js';
import { createClasspassAdapter, startClasspassSandbox } from './classpass/index.js';
import { createEgymWellpassAdapter, startEgymWellpassSandbox } from './egym_wellpass/index.js';
import { createOnefitAdapter, startOnefitSandbox } from './onefit/index.js';
import type { AggregatorAdapter } from './types.js';
import { createWellhubAdapter } from './wellhub/index.js';
import { startWellhubSandbox } from './wellhub/sandbox.js';
import { createWorkitAdapter, startWorkitSandbox } from './workit/index.js';

/** What a connection needs to use a running sandbox: its base URL and the credentials it accepts. */
export interface RunningSandbox {
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
}

export interface AggregatorModule {
  aggregator: Aggregator;
  displayName: string;
  /** Where the contract comes from: Wellhub's is public; the others are our generic contract, to be certified. */
  contract: 'public' | 'generic-to-certify';
  createAdapter(): AggregatorAdapter;
  startSandbox(options: SandboxStartOptions): Promise<RunningSandbox>;
}

/** Sandbox-only credentials for the generic partner sandboxes; they open nothing real. */
const partnerSandboxCredentials = (aggregator: Aggregator) => ({
  externalVenueId: `${aggregator}-sandbox-venue`,
  apiToken: `${aggregator}-sandbox-token`,
  webhookSecret: `${aggregator}-sandbox-secret`,
});

function partnerModule(
  aggregator: Aggregator,
  displayName: string,
  createAdapter: () => AggregatorAdapter,
  start: typeof startClasspassSandbox,
): AggregatorModule {
  return {
    aggregator,
    displayName,
    contract: 'generic-to-certify',
    createAdapter,
    async startSandbox({ host, port, webhookUrl }) {
      const credentials = partnerSandboxCredentials(aggregator);
      const sandbox = await start({
        host,
        port,
        apiToken: credentials.apiToken,
        webhookSecret: credentials.webhookSecret,
        webhookUrl,
        venues: [credentials.externalVenueId],
      });
      return { aggregator, url: sandbox.url, connection: { ...credentials, settings: {} }, close: () => sandbox.close() };
    },
  };
}

/** Every aggregator this build knows, by id. Adding an aggregator is a folder plus an entry here. */
export const AGGREGATOR_MODULES: Readonly<Record<Aggregator, AggregatorModule>> = {
  wellhub: {
    aggregator: 'wellhub',
    displayName: 'Wellhub',
    contract: 'public',
    createAdapter: () => createWellhubAdapter(),
    async startSandbox({ host, port, webhookUrl }) {
      const sandbox = await startWellhubSandbox({ host, port, ...(webhookUrl ? { webhookUrl } : {}) });
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
  },
  classpass: partnerModule('classpass', 'ClassPass', createClasspassAdapter, startClasspassSandbox),
  egym_wellpass: partnerModule('egym_wellpass', 'EGYM Wellpass', createEgymWellpassAdapter, startEgymWellpassSandbox),
  onefit: partnerModule('onefit', 'Onefit', createOnefitAdapter, startOnefitSandbox),
  workit: partnerModule('workit', 'Workit', createWorkitAdapter, startWorkitSandbox),
};

/**
 * Which API base URL a connection's calls go to: the connection's own URL, else the one configured for the
 * aggregator, else the local sandbox when one runs, else the aggregator's production URL.
 */
export interface AggregatorEndpoints {
  baseUrlFor(aggregator: Aggregator, connectionUrl: string | null): string;
  /** Sandboxes running in this process, by aggregator. */
  sandboxes: Partial<Record<Aggregator, RunningSandbox>>;
}

export function aggregatorEndpoints(
  configured: Partial<Record<Aggregator, string>>,
  sandboxes: Partial<Record<Aggregator, RunningSandbox>> = {},
): AggregatorEndpoints {
  const defaults = new Map<Aggregator, string>();
  return {
    sandboxes,
    baseUrlFor(aggregator, connectionUrl) {
      if (connectionUrl !== null) return connectionUrl;
      const url = configured[aggregator] ?? sandboxes[aggregator]?.url;
      if (url !== undefined) return url;
      if (!defaults.has(aggregator)) defaults.set(aggregator, AGGREGATOR_MODULES[aggregator].createAdapter().defaultBaseUrl);
      return defaults.get(aggregator) as string;
    },
  };
}

/**
 * Starts a sandbox for every aggregator that has no configured URL, on consecutive ports from `basePort`
 * (in the order of the aggregator list, so each keeps its port whatever else is configured).
 */
/** Lines that tell a person where each sandbox is and which (sandbox-only) credentials a connection to it needs. */
export function describeSandboxes(sandboxes: Partial<Record<Aggregator, RunningSandbox>>): string[] {
  return Object.values(sandboxes).map((s) => {
    const { externalVenueId, apiToken, webhookSecret, settings } = s.connection;
    const extra = Object.keys(settings).length > 0 ? ` settings=${JSON.stringify(settings)}` : '';
    return `  ${AGGREGATOR_MODULES[s.aggregator].displayName.padEnd(14)} ${s.url}  (externalVenueId=${externalVenueId} apiToken=${apiToken} webhookSecret=${webhookSecret}${extra})`;
  });
}

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
      started[aggregator] = await AGGREGATOR_MODULES[aggregator].startSandbox({
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
