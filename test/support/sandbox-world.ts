import { aggregatorEndpoints, type AggregatorEndpoints } from '../../aggregators/registry.js';
import { SANDBOX_STARTERS, type RunningSandbox } from '../../aggregators/sandboxes.js';
import { AGGREGATORS, type Aggregator } from '../../domain/model.js';

/** Every aggregator's sandbox on a free port, and what each one holds, in one shape for assertions. */
export interface HeldActivity {
  /** Our activity id as the aggregator keeps it (Wellhub: the class reference; partners: the reference). */
  reference: string | null;
  name: string;
  visible: boolean;
  bookable: boolean;
}

export interface HeldSessionView {
  id: string;
  /** Epoch ms of the start. */
  at: number;
  room: string | null;
  capacity: number;
  booked: number;
}

export interface SandboxWorld {
  sandboxes: Record<Aggregator, RunningSandbox>;
  endpoints: AggregatorEndpoints;
  held(aggregator: Aggregator): Promise<{ activities: HeldActivity[]; sessions: HeldSessionView[] }>;
  /** Write calls (anything but GET) the sandbox has received so far. */
  writes(aggregator: Aggregator): Promise<number>;
  fault(aggregator: Aggregator, rule: Record<string, unknown>): Promise<void>;
  clearFaults(aggregator: Aggregator): Promise<void>;
  close(): Promise<void>;
}

const json = async <T>(url: string, init?: RequestInit): Promise<T> => {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status}`);
  return (await res.json()) as T;
};

interface WellhubState {
  gyms: Array<{
    classes: Array<{ reference: string | null; name: string; visible: boolean; bookable: boolean; deleted: boolean }>;
    slots: Array<{ id: number; occur_date: string; room: string | null; total_capacity: number; total_booked: number; deleted: boolean }>;
  }>;
}
interface PartnerState {
  activities: Array<{ reference: string; name: string; visible: boolean; bookable: boolean }>;
  sessions: Array<{ reference: string; starts_at: string; room: string | null; capacity: number; booked: number; status: string }>;
}

let worlds = 0;

/** Each world's sandboxes hold a venue id of their own, so connections of several worlds can live in one ledger. */
export async function startSandboxWorld(): Promise<SandboxWorld> {
  worlds += 1;
  const externalVenueId = String(process.pid * 1000 + worlds);
  const started = await Promise.all(AGGREGATORS.map((a) => SANDBOX_STARTERS[a]({ host: '127.0.0.1', port: 0, externalVenueId })));
  const sandboxes = Object.fromEntries(started.map((s) => [s.aggregator, s])) as Record<Aggregator, RunningSandbox>;
  const control = (aggregator: Aggregator, path: string) => `${sandboxes[aggregator].url}/__sandbox${path}`;
  return {
    sandboxes,
    endpoints: aggregatorEndpoints({}, sandboxes),
    async held(aggregator) {
      if (aggregator === 'wellhub') {
        const state = await json<WellhubState>(control(aggregator, '/state'));
        const gym = state.gyms[0];
        return {
          activities: (gym?.classes ?? []).filter((c) => !c.deleted).map(({ reference, name, visible, bookable }) => ({ reference, name, visible, bookable })),
          sessions: (gym?.slots ?? [])
            .filter((s) => !s.deleted)
            .map((s) => ({ id: String(s.id), at: Date.parse(s.occur_date), room: s.room ?? null, capacity: s.total_capacity, booked: s.total_booked })),
        };
      }
      const state = await json<PartnerState>(control(aggregator, '/state'));
      return {
        activities: state.activities.map(({ reference, name, visible, bookable }) => ({ reference, name, visible, bookable })),
        sessions: state.sessions
          .filter((s) => s.status === 'scheduled')
          .map((s) => ({ id: s.reference, at: Date.parse(s.starts_at), room: s.room, capacity: s.capacity, booked: s.booked })),
      };
    },
    async writes(aggregator) {
      const calls = await json<Array<{ method: string }> | { calls: Array<{ method: string }> }>(control(aggregator, '/calls'));
      const list = Array.isArray(calls) ? calls : calls.calls;
      return list.filter((c) => c.method !== 'GET').length;
    },
    async fault(aggregator, rule) {
      await json(control(aggregator, '/faults'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) });
    },
    async clearFaults(aggregator) {
      const res = await fetch(control(aggregator, '/faults'), { method: 'DELETE' });
      if (!res.ok) throw new Error(`DELETE faults: ${res.status}`);
    },
    async close() {
      await Promise.allSettled(Object.values(sandboxes).map((s) => s.close()));
    },
  };
}
