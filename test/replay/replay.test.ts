import { Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { installRuntimeLogger } from '../../worker/index.js';
import * as workflows from '../../workflows/index.js';
import { historyFromJson, loadHistories, type HistoryFile } from './recorded-history.js';

/**
 * A deploy must not break the workflows already running: a lifecycle runs for as long as its activity is offered,
 * a cancellation branch for as long as its aggregator is down. Every history committed under test/replay/histories
 * (recorded from each released version by `npm run record-histories`) is replayed against the workflow bundle of
 * this checkout; a change that would make a running workflow issue other commands than its history holds fails here.
 */
installRuntimeLogger(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));

const histories = loadHistories();
/** Every workflow type the worker runs: each needs histories, or its changes go unchecked. */
const WORKFLOW_TYPES = Object.keys(workflows).sort();

function explain(h: HistoryFile, error: Error): string {
  return [
    `${h.file}: the current workflow code cannot replay this ${h.workflowType} history.`,
    `  Recorded from ${h.label} (${h.recorded.status}): ${h.recorded.description}`,
    `  ${error.name}: ${error.message}`,
    '  A workflow of that version may be running when this deploys. Guard the change with patched() (or ship it',
    '  under a new worker version); see "Deploying workflow changes" in the README.',
  ].join('\n');
}

describe('replaying the committed histories against the current workflow code', () => {
  const results: Array<ReplayResult | undefined> = [];

  beforeAll(async () => {
    const replay = Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'committed-histories' },
      histories.map((h) => ({ workflowId: h.recorded.workflowId, history: historyFromJson(h.recorded.history) })),
    );
    // One history at a time, in the order given.
    for await (const result of replay) results.push(result);
  });

  it('holds histories of every workflow type the worker runs, and only of those', () => {
    expect(WORKFLOW_TYPES.length).toBeGreaterThanOrEqual(4);
    for (const type of WORKFLOW_TYPES) {
      expect(histories.filter((h) => h.workflowType === type).length, `no history of ${type}: record some (npm run record-histories)`).toBeGreaterThan(0);
    }
    for (const h of histories) {
      expect(WORKFLOW_TYPES, `${h.file}: not a workflow type the worker runs`).toContain(h.workflowType);
      const started = h.recorded.history.events[0] as { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } } | undefined;
      expect(h.recorded.workflowType, h.file).toBe(h.workflowType);
      expect(started?.workflowExecutionStartedEventAttributes?.workflowType?.name, `${h.file}: the history is of another type`).toBe(h.workflowType);
    }
    expect(results).toHaveLength(histories.length);
  });

  it.each(histories.map((h, i) => [h.file, h, i] as const))('replays %s', (_file, h, i) => {
    const result = results[i];
    expect(result, `${h.file}: not replayed`).toBeDefined();
    if (result?.error) expect.fail(explain(h, result.error));
  });
});
