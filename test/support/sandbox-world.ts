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
  /** The body of `POST /v1/venues/{id}/connections` that links an active connection to this world's sandbox. */
  connectionBody(aggregator: Aggregator): Record<string, unknown>;
  /** Points every sandbox's webhooks at the service (`<base>/webhooks/<aggregator>`). */
  setWebhookBase(base: string): Promise<void>;
  /** A member books a session the sandbox holds (its id as the aggregator knows it): the webhook is sent. */
  requestBooking(aggregator: Aggregator, input: MemberBooking): Promise<{ bookingNumber: string; delivery: unknown }>;
  /** A member cancels (late or not) or checks in: the webhook is sent. */
  memberCancel(aggregator: Aggregator, bookingNumber: string, late?: boolean): Promise<void>;
  checkIn(aggregator: Aggregator, bookingNumber: string): Promise<void>;
  /** The booking as the aggregator holds it, in one vocabulary. */
  booking(aggregator: Aggregator, bookingNumber: string): Promise<HeldBooking | undefined>;
  close(): Promise<void>;
}

export interface MemberBooking {
  sessionId: string;
  bookingNumber?: string | undefined;
  member?: { id: string; name?: string; email?: string } | undefined;
}

export type HeldBookingStatus = 'pending' | 'reserved' | 'rejected' | 'cancelled_by_member' | 'late_cancelled' | 'cancelled_by_gym' | 'checked_in';

export interface HeldBooking {
  status: HeldBookingStatus;
  /** The reject reason as the aggregator holds it (Wellhub: the category; partners: their reason code). */
  reason: string | null;
  /** Rejected by the aggregator itself because no answer came in time. */
  autoRejected: boolean;
}

const WELLHUB_STATUS: Record<string, HeldBookingStatus> = {
  PENDING: 'pending',
  RESERVED: 'reserved',
  REJECTED: 'rejected',
  CANCELLED_BY_USER: 'cancelled_by_member',
  LATE_CANCELLED: 'late_cancelled',
  CANCELLED_BY_GYM: 'cancelled_by_gym',
  CHECKED_IN: 'checked_in',
};
const PARTNER_STATUS: Record<string, HeldBookingStatus> = {
  pending: 'pending',
  confirmed: 'reserved',
  rejected: 'rejected',
  expired: 'rejected',
  cancelled_by_member: 'cancelled_by_member',
  cancelled_by_venue: 'cancelled_by_gym',
  checked_in: 'checked_in',
};

const json = async <T>(url: string, init?: RequestInit): Promise<T> => {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status}`);
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
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
    connectionBody(aggregator) {
      const { connection, url } = sandboxes[aggregator];
      return {
        aggregator,
        status: 'active',
        apiBaseUrl: url,
        externalVenueId: connection.externalVenueId,
        settings: connection.settings,
        credentials: { apiToken: connection.apiToken, webhookSecret: connection.webhookSecret },
      };
    },
    async setWebhookBase(base) {
      for (const aggregator of AGGREGATORS) {
        await json(control(aggregator, '/webhook'), {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: `${base}/webhooks/${aggregator}` }),
        });
      }
    },
    async requestBooking(aggregator, input) {
      const post = (body: unknown) =>
        json<Record<string, unknown>>(control(aggregator, '/bookings'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const venue = sandboxes[aggregator].connection.externalVenueId;
      if (aggregator === 'wellhub') {
        const sent = await post({
          gym_id: venue,
          slot_id: input.sessionId,
          ...(input.bookingNumber ? { booking_number: input.bookingNumber } : {}),
          ...(input.member ? { user: { unique_token: input.member.id, name: input.member.name, email: input.member.email } } : {}),
        });
        return { bookingNumber: (sent.booking as { booking_number: string }).booking_number, delivery: sent.delivery };
      }
      const sent = await post({
        venue_id: venue,
        session_reference: input.sessionId,
        ...(input.bookingNumber ? { booking_id: input.bookingNumber } : {}),
        ...(input.member ? { member: input.member } : {}),
      });
      return { bookingNumber: (sent.booking as { id: string }).id, delivery: sent.delivery };
    },
    async memberCancel(aggregator, bookingNumber, late = false) {
      const path = aggregator === 'wellhub' ? `/bookings/${bookingNumber}/cancel` : `/bookings/${bookingNumber}/member-cancel`;
      await json(control(aggregator, path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ late }) });
    },
    async checkIn(aggregator, bookingNumber) {
      const path = aggregator === 'wellhub' ? `/bookings/${bookingNumber}/checkin` : `/bookings/${bookingNumber}/check-in`;
      await json(control(aggregator, path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    },
    async booking(aggregator, bookingNumber) {
      if (aggregator === 'wellhub') {
        const res = await fetch(control(aggregator, `/bookings/${bookingNumber}`));
        if (res.status === 404) return undefined;
        const b = (await res.json()) as { state: string; reason_category?: string; auto_rejected: boolean };
        return { status: WELLHUB_STATUS[b.state] ?? 'pending', reason: b.reason_category ?? null, autoRejected: b.auto_rejected };
      }
      const state = await json<{ bookings: Array<{ id: string; status: string; reason_code?: string | null }> }>(control(aggregator, '/state'));
      const b = state.bookings.find((x) => x.id === bookingNumber);
      if (!b) return undefined;
      return { status: PARTNER_STATUS[b.status] ?? 'pending', reason: b.reason_code ?? null, autoRejected: b.status === 'expired' };
    },
    async close() {
      await Promise.allSettled(Object.values(sandboxes).map((s) => s.close()));
    },
  };
}
