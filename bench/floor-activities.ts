/**
 * The activities of the floor workflow (bench/floor-workflow.ts): named after the booking workflow's, each a trivial
 * await that records when it ran, in the benchmark's own process (where the floor worker runs).
 */

export interface FloorTimes {
  /** When the normal activity ran (the booking's counterpart: the aggregator records RESERVED), epoch ms. */
  answeredAt?: number;
  /** When the last local activity ran, epoch ms. */
  doneAt?: number;
}

export interface FloorActivities {
  decideRequest(workflowId: string): Promise<void>;
  answerAggregator(workflowId: string): Promise<void>;
  finishRequest(workflowId: string): Promise<void>;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createFloorActivities(times: Map<string, FloorTimes>): FloorActivities {
  const entry = (workflowId: string): FloorTimes => {
    let found = times.get(workflowId);
    if (!found) {
      found = {};
      times.set(workflowId, found);
    }
    return found;
  };
  return {
    decideRequest: tick,
    async answerAggregator(workflowId) {
      await tick();
      entry(workflowId).answeredAt ??= Date.now();
    },
    async finishRequest(workflowId) {
      await tick();
      entry(workflowId).doneAt ??= Date.now();
    },
  };
}
