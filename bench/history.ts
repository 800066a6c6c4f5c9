/**
 * Where a workflow's time went, read from its Temporal history: event times, the phases between a request and its
 * first completed activity (or update), and the run time of its local activities from the SDK's markers.
 */
import type { Client } from '@temporalio/client';
import { pool } from './report.js';


export const PHASES = [
  'webhook -> workflow started',
  'workflow task waits for the worker',
  'workflow task on the worker (local activities included)',
  'signal to the lifecycle workflow',
  'activity dispatched and run (the aggregator call)',
  'other',
] as const;
export type Phase = (typeof PHASES)[number];

export interface TimedEvent {
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  [attributes: string]: unknown;
}

export function eventMs(event: TimedEvent): number {
  const seconds = event.eventTime?.seconds;
  const whole = typeof seconds === 'number' ? seconds : typeof (seconds as { toNumber?: () => number } | undefined)?.toNumber === 'function' ? (seconds as { toNumber: () => number }).toNumber() : Number(seconds ?? 0);
  return whole * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;
}

export const has = (event: TimedEvent, attributes: string) => event[attributes] !== undefined && event[attributes] !== null;

/**
 * Splits a run's history, from its start to its first completed (normal) activity, into phases by the event that
 * ends each gap: where a booking's time goes between the webhook and the aggregator's RESERVED.
 */
export function phasesOf(
  events: TimedEvent[],
  requestedAt: number | undefined,
  others?: Map<string, number>,
  end: 'activity' | 'update' = 'activity',
): Map<Phase, number> | undefined {
  const phases = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
  const add = (phase: Phase, value: number) => phases.set(phase, (phases.get(phase) ?? 0) + Math.max(0, value));
  const first = events[0];
  if (!first) return undefined;
  if (requestedAt !== undefined) add('webhook -> workflow started', eventMs(first) - requestedAt);
  for (let i = 1; i < events.length; i += 1) {
    const event = events[i]!;
    const gap = eventMs(event) - eventMs(events[i - 1]!);
    if (has(event, 'workflowTaskStartedEventAttributes')) add('workflow task waits for the worker', gap);
    else if (has(event, 'workflowTaskCompletedEventAttributes')) add('workflow task on the worker (local activities included)', gap);
    else if (has(event, 'externalWorkflowExecutionSignaledEventAttributes')) add('signal to the lifecycle workflow', gap);
    else if (has(event, 'activityTaskStartedEventAttributes') || has(event, 'activityTaskCompletedEventAttributes')) {
      // The started event is written with the completion: the two gaps are one phase.
      add('activity dispatched and run (the aggregator call)', gap);
      if (has(event, 'activityTaskCompletedEventAttributes')) return phases;
    } else if (end === 'update' && has(event, 'workflowExecutionUpdateCompletedEventAttributes')) {
      add('other', gap);
      return phases;
    } else {
      add('other', gap);
      const type = eventType(event);
      others?.set(type, (others.get(type) ?? 0) + Math.max(0, gap));
    }
  }
  return undefined;
}

export interface Breakdown {
  runs: number;
  phases: Map<Phase, number[]>;
  /** What "other" was made of: ms summed over the runs, by the event type that ended the gap. */
  others: Map<string, number>;
  /** How long each local activity ran (its marker's schedule to completion), by type. */
  localActivities: Map<string, number[]>;
}

interface LocalActivityMarker {
  activity_type?: string;
  attempt?: number;
  complete_time?: { seconds?: number; nanos?: number } | null;
  original_schedule_time?: { seconds?: number; nanos?: number } | null;
}

const markerMs = (t: { seconds?: number; nanos?: number } | null | undefined) => (t ? (t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);

/** The run time of each first-attempt local activity, read from the SDK's marker (schedule to completion, worker clock). */
function localActivityRunTimes(events: TimedEvent[]): [string, number][] {
  const found: [string, number][] = [];
  for (const event of events) {
    const attributes = event.markerRecordedEventAttributes as
      | { markerName?: string; details?: Record<string, { payloads?: { data?: Uint8Array | null }[] | null } | undefined> }
      | null
      | undefined;
    if (!attributes || attributes.markerName !== 'core_local_activity') continue;
    const data = attributes.details?.data?.payloads?.[0]?.data;
    if (!data) continue;
    try {
      const marker = JSON.parse(Buffer.from(data).toString('utf8')) as LocalActivityMarker;
      const value = markerMs(marker.complete_time) - markerMs(marker.original_schedule_time);
      if (marker.activity_type && marker.attempt === 1 && Number.isFinite(value) && value >= 0) found.push([marker.activity_type, value]);
    } catch {
      // Not the marker layout this SDK writes: left out.
    }
  }
  return found;
}

/** The phases of up to `limit` runs (evenly picked), with at most 4 history fetches in flight. */
export async function breakdown(
  client: Client,
  runs: { workflowId: string; requestedAt?: number }[],
  limit = 16,
  end: 'activity' | 'update' = 'activity',
): Promise<Breakdown> {
  const step = Math.max(1, Math.floor(runs.length / limit));
  const picked = runs.filter((_, i) => i % step === 0).slice(0, limit);
  const result: Breakdown = { runs: 0, phases: new Map(PHASES.map((p) => [p, []])), others: new Map(), localActivities: new Map() };
  await pool(picked, 4, async (run) => {
    try {
      const events = await historyOf(client, run.workflowId);
      const others = new Map<string, number>();
      const phases = phasesOf(events, run.requestedAt, others, end);
      for (const [type, value] of localActivityRunTimes(events)) {
        const list = result.localActivities.get(type) ?? [];
        list.push(value);
        result.localActivities.set(type, list);
      }
      if (!phases) return;
      result.runs += 1;
      for (const [phase, value] of phases) result.phases.get(phase)!.push(value);
      for (const [type, value] of others) result.others.set(type, (result.others.get(type) ?? 0) + value);
    } catch {
      // A history that cannot be read is left out.
    }
  });
  return result;
}

/** A run's history events. */
export async function historyOf(client: Client, workflowId: string): Promise<TimedEvent[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []) as TimedEvent[];
}

/** The event's type, from the one attributes field it carries ("workflowTaskStarted", ...). */
export const eventType = (event: TimedEvent) =>
  Object.keys(event).find((k) => k.endsWith('EventAttributes') && has(event, k))?.replace(/EventAttributes$/, '') ?? 'unknown';
