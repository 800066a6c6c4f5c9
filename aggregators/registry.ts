import type { Aggregator } from '../domain/model.js';
import { createClasspassAdapter } from './classpass/index.js';
import { createEgymWellpassAdapter } from './egym_wellpass/index.js';
import { createOnefitAdapter } from './onefit/index.js';
import type { AggregatorAdapter } from './types.js';
import { createWellhubAdapter } from './wellhub/index.js';
import { createWorkitAdapter } from './workit/index.js';

/*
 * Production code (API, worker) imports this module, so it imports no sandbox: the sandboxes are started and
 * described by aggregators/sandboxes.ts, which only `npm run sandbox`, `npm start` (by a dynamic import) and tests load.
 */

export interface AggregatorModule {
  aggregator: Aggregator;
  displayName: string;
  /** Where the contract comes from: Wellhub's is public; the others are our generic contract, to be certified. */
  contract: 'public' | 'generic-to-certify';
  createAdapter(): AggregatorAdapter;
}

function partnerModule(aggregator: Aggregator, displayName: string, createAdapter: () => AggregatorAdapter): AggregatorModule {
  return { aggregator, displayName, contract: 'generic-to-certify', createAdapter };
}

/** Every aggregator this build knows, by id. Adding an aggregator is a folder plus an entry here and in sandboxes.ts. */
export const AGGREGATOR_MODULES: Readonly<Record<Aggregator, AggregatorModule>> = {
  wellhub: { aggregator: 'wellhub', displayName: 'Wellhub', contract: 'public', createAdapter: () => createWellhubAdapter() },
  classpass: partnerModule('classpass', 'ClassPass', createClasspassAdapter),
  egym_wellpass: partnerModule('egym_wellpass', 'EGYM Wellpass', createEgymWellpassAdapter),
  onefit: partnerModule('onefit', 'Onefit', createOnefitAdapter),
  workit: partnerModule('workit', 'Workit', createWorkitAdapter),
};

/** Where a sandbox running in this process listens: all that routing a connection's calls needs to know of it. */
export interface SandboxEndpoint {
  url: string;
}

/**
 * Which API base URL a connection's calls go to: the connection's own URL, else the one configured for the
 * aggregator, else the local sandbox when one runs, else the aggregator's production URL.
 */
export interface AggregatorEndpoints {
  baseUrlFor(aggregator: Aggregator, connectionUrl: string | null): string;
  /** Sandboxes running in this process, by aggregator. */
  sandboxes: Partial<Record<Aggregator, SandboxEndpoint>>;
}

export function aggregatorEndpoints(
  configured: Partial<Record<Aggregator, string>>,
  sandboxes: Partial<Record<Aggregator, SandboxEndpoint>> = {},
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

/** One adapter per aggregator, as the worker's activities use them. */
export function createAdapters(): Record<Aggregator, AggregatorAdapter> {
  return Object.fromEntries(
    Object.values(AGGREGATOR_MODULES).map((module) => [module.aggregator, module.createAdapter()]),
  ) as Record<Aggregator, AggregatorAdapter>;
}
