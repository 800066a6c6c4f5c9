import { ApiError } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { z } from '../zod.js';

export type ReadinessCheck = () => Promise<void>;

const Checks = z.record(z.string(), z.string());

export function healthRoutes(checks: Record<string, ReadinessCheck>): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      tag: 'Health',
      auth: 'none',
      response: { status: 200, description: 'Alive', schema: z.object({ status: z.literal('ok') }) },
      handler: () => Promise.resolve({ status: 'ok' as const }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: PostgreSQL and Temporal are reachable',
      tag: 'Health',
      auth: 'none',
      response: { status: 200, description: 'Ready', schema: z.object({ status: z.literal('ready'), checks: Checks }) },
      errors: [503],
      handler: async () => {
        const entries = await Promise.all(
          Object.entries(checks).map(async ([name, check]) => {
            try {
              await withTimeout(check(), 2_000);
              return [name, 'ok'] as const;
            } catch (error) {
              return [name, `unavailable: ${error instanceof Error ? error.message : String(error)}`] as const;
            }
          }),
        );
        const results = Object.fromEntries(entries);
        if (entries.some(([, result]) => result !== 'ok')) {
          throw new ApiError(503, 'not_ready', 'a dependency is unavailable', { checks: results });
        }
        return { status: 'ready' as const, checks: results };
      },
    }),
  ];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
