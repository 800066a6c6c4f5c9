import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type LogLevel, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivitiesDeps } from '../activities/index.js';
import type { Logger } from '../lib/logger.js';

/** The workflows' entry file: TypeScript sources under tsx and vitest, compiled JavaScript in dist/. */
export const workflowsPath = ['index.ts', 'index.js']
  .map((file) => path.resolve(__dirname, '..', 'workflows', file))
  .find((file) => existsSync(file)) as string;
/** Written by `npm run build`; used in production so the worker starts without bundling. */
export const prebuiltBundlePath = path.resolve(__dirname, '..', 'workflow-bundle.js');

let runtimeInstalled = false;

/**
 * The SDK's runtime, installed once per process (Runtime.install may run only once): its logs (including workflow and
 * activity logs, which carry the workflow id, run id and type) go to our pino logger, and with
 * `prometheusBindAddress` its own metrics (workflow and activity task latencies, failures, slots, polls) are served
 * by its Prometheus exporter at `http://<address>/metrics`, in seconds and with `_total` on counters as ours are.
 */
export function installRuntimeLogger(logger: Logger, options: { prometheusBindAddress?: string | undefined } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (logger.level === 'silent' ? 'ERROR' : logger.level.toUpperCase()) as LogLevel;
  Runtime.install({
    ...(options.prometheusBindAddress !== undefined
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: options.prometheusBindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
          },
        }
      : {}),
    // The service stops the worker itself, in order, on SIGTERM (bin/service.ts).
    shutdownSignals: [],
    logger: new DefaultLogger(level === ('FATAL' as LogLevel) ? 'ERROR' : level, (entry) => {
      const method = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : entry.level === 'INFO' ? 'info' : 'debug';
      // The task token is an opaque blob that only bloats each line.
      const { taskToken: _taskToken, ...meta } = entry.meta ?? {};
      logger[method]({ component: 'temporal', ...meta }, entry.message);
    }),
  });
}

export async function bundleWorkflows(outputPath: string): Promise<void> {
  // Webpack's build report is noise outside of debugging; warnings and errors still show.
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(outputPath, code);
}

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivitiesDeps;
  /** A prebuilt workflow bundle; default: the one from `npm run build` if present, else bundle from source. */
  workflowBundlePath?: string | undefined;
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const bundlePath = options.workflowBundlePath ?? (existsSync(prebuiltBundlePath) ? prebuiltBundlePath : undefined);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath }),
  });
}
