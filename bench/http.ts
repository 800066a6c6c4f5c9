/**
 * HTTP helpers of the benchmark: the service's JSON API, the sandboxes' control API (`/__sandbox/calls`, `/state`),
 * and cheap probes of what each aggregator holds through its own list endpoints.
 */
import type { RecordedCall } from '../aggregators/sandbox-kit/calls.js';
import type { Aggregator } from '../domain/model.js';
import type { ConnectionSyncStatus } from '../workflows/activity-lifecycle/contract.js';

export type { RecordedCall };

/** Marks the benchmark's own probe requests, so that they are left out of the aggregator calls counted. */
export const PROBE_HEADER = 'x-bench-probe';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
  ) {}

  withKey(key: string): Api {
    return new Api(this.baseUrl, key);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) throw new ApiError(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`, res.status);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}

/** One lane of GET /v1/activities/{id}/sync: the lifecycle's own status type. */
export type LaneStatus = ConnectionSyncStatus;

export interface SyncStatus {
  activityId: string;
  offered: boolean;
  lifecycle: { workflowId: string; phase: string; syncPasses: number; lastSyncReason: string | null } | null;
  connections: LaneStatus[];
}

export const laneIdle = (lane: LaneStatus) => !lane.pending && !lane.running;

/** Any request; the answer's status, parsed JSON body (undefined when there is none or it is not JSON) and text. */
export async function fetchJson<T>(url: string, init?: RequestInit, timeoutMs = 30_000): Promise<{ status: number; body: T | undefined; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: T | undefined;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as T);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

export function postJson<T>(url: string, body: unknown, timeoutMs?: number): Promise<{ status: number; body: T | undefined; text: string }> {
  return fetchJson<T>(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, timeoutMs);
}

export async function putJson(url: string, body: unknown): Promise<void> {
  const res = await fetchJson(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status < 200 || res.status > 299) throw new Error(`PUT ${url} answered ${res.status}: ${res.text.slice(0, 300)}`);
}

/** A GET that must answer 200 with JSON. */
export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The calls a sandbox recorded (the benchmark's own probes left out), optionally of one method only. */
export async function sandboxCalls(sandboxUrl: string, method?: string): Promise<RecordedCall[]> {
  const query = method ? `?method=${method}` : '';
  const { calls } = await getJson<{ calls: RecordedCall[] }>(`${sandboxUrl}/__sandbox/calls${query}`);
  return calls.filter((call) => call.headers[PROBE_HEADER] === undefined);
}

export async function clearSandboxCalls(sandboxUrl: string): Promise<void> {
  const res = await fetch(`${sandboxUrl}/__sandbox/calls`, { method: 'DELETE', signal: AbortSignal.timeout(30_000) });
  if (res.status !== 204) throw new Error(`DELETE ${sandboxUrl}/__sandbox/calls answered ${res.status}`);
}

export function sandboxState<T>(sandboxUrl: string): Promise<T> {
  return getJson<T>(`${sandboxUrl}/__sandbox/state`);
}

/** Writes (every method but GET and HEAD) and reads among recorded calls. */
export function countCalls(calls: RecordedCall[]): { writes: number; reads: number; byKind: Record<string, number> } {
  let writes = 0;
  let reads = 0;
  const byKind: Record<string, number> = {};
  for (const call of calls) {
    if (call.method === 'GET' || call.method === 'HEAD') reads += 1;
    else writes += 1;
    const kind = `${call.method} ${pathTemplate(call.path)}${call.status !== undefined && call.status >= 400 ? ` -> ${call.status}` : ''}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { writes, reads, byKind };
}

/** A path with its ids replaced, so that calls group by endpoint. */
export function pathTemplate(path: string): string {
  return path
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{ref}')
    .replace(/\/\d+(?=\/|$)/g, '/{id}');
}

/** What a probe needs to know of a session to find it at an aggregator. */
export interface ProbeTarget {
  sessionId: string;
  activityId: string;
  /** The session's start, epoch ms. */
  startsAt: number;
  /** Wellhub's id of the activity's class. */
  wellhubClassId: string;
}

export interface ProbeCredentials {
  url: string;
  externalVenueId: string;
  apiToken: string;
}

/**
 * The room the aggregator holds for the session, read through its own list endpoint with a narrow range around the
 * session's start (one session of the activity starts in it); undefined when the session is not listed.
 */
export async function heldRoom(aggregator: Aggregator, creds: ProbeCredentials, target: ProbeTarget): Promise<string | null | undefined> {
  const range = new URLSearchParams({
    from: new Date(target.startsAt - 60_000).toISOString(),
    to: new Date(target.startsAt + 60_000).toISOString(),
  });
  const headers = { Authorization: `Bearer ${creds.apiToken}`, [PROBE_HEADER]: '1' };
  const venue = encodeURIComponent(creds.externalVenueId);
  if (aggregator === 'wellhub') {
    const url = `${creds.url}/booking/v1/gyms/${venue}/classes/${encodeURIComponent(target.wellhubClassId)}/slots?${range.toString()}`;
    const { results } = await getJson<{ results: { occur_date: string; room?: string | null }[] }>(url, headers);
    const slot = results.find((s) => Date.parse(s.occur_date.replace(/\[[^\]]*\]$/, '')) === target.startsAt);
    return slot === undefined ? undefined : (slot.room ?? null);
  }
  range.set('activity_reference', target.activityId);
  const url = `${creds.url}/v1/venues/${venue}/sessions?${range.toString()}`;
  const { items } = await getJson<{ items: { reference: string; room: string | null; status: string }[] }>(url, headers);
  const session = items.find((item) => item.reference === target.sessionId);
  return session === undefined ? undefined : session.room;
}
