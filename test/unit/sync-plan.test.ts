import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import {
  listingFingerprint,
  remoteFingerprint,
  planSync,
  type DesiredSession,
  type DesiredState,
  type PublishedSession,
  type PublishedState,
  type RemoteSession,
  type SyncOp,
} from '../../domain/sync-plan.js';
import { formatInOffset } from '../../domain/time.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const minutesFromNow = (m: number, now = NOW) => new Date(now.getTime() + m * 60_000);

function activity(over: Partial<ActivityListing> = {}): ActivityListing {
  return { activityId: 'act-1', name: 'Yoga', description: 'Slow flow', category: 'yoga', bookable: true, visible: true, ...over };
}

function session(id: string, startsInMinutes: number, over: Partial<SessionListing> = {}): DesiredSession {
  const startsAt = minutesFromNow(startsInMinutes);
  const listing: SessionListing = {
    sessionId: id,
    startsAt: formatInOffset(startsAt, '+01:00'),
    durationMinutes: 60,
    room: 'Room 1',
    instructors: [{ name: 'Axel', substitute: false }],
    totalCapacity: 10,
    totalBooked: 0,
    active: true,
    ...over,
  };
  return { sessionId: id, listing, startsAt };
}

function desired(sessions: DesiredSession[], over: { offered?: boolean; listing?: ActivityListing } = {}): DesiredState {
  return { activity: { listing: over.listing ?? activity(), offered: over.offered ?? true }, sessions };
}

/** What the ledger records once the session was pushed as wanted. */
function pushed(s: DesiredSession, externalId: string, over: Partial<PublishedSession> = {}): PublishedSession {
  return {
    sessionId: s.sessionId,
    externalId,
    fingerprint: listingFingerprint(s.listing),
    totalCapacity: s.listing.totalCapacity,
    totalBooked: s.listing.totalBooked,
    startsAt: s.startsAt,
    removed: false,
    ...over,
  };
}

function publishedWith(sessions: PublishedSession[], over: { hidden?: boolean; listing?: ActivityListing } = {}): PublishedState {
  return { activity: { externalId: 'class-1', fingerprint: listingFingerprint(over.listing ?? activity()), hidden: over.hidden ?? false }, sessions };
}

function held(s: DesiredSession, externalId: string, over: Partial<RemoteSession> = {}): RemoteSession {
  const { totalCapacity, totalBooked } = s.listing;
  return { externalId, fingerprint: remoteFingerprint(s.listing), totalCapacity, totalBooked, startsAt: s.startsAt, ...over };
}

const kinds = (ops: SyncOp[]) => ops.map((op) => ('sessionId' in op ? `${op.kind}:${op.sessionId}` : op.kind));

describe('planSync', () => {
  const a = session('s-a', 60);
  const b = session('s-b', 180);

  it('creates the activity first, then its sessions in start order', () => {
    const ops = planSync(desired([b, a]), { sessions: [] }, { now: NOW });
    expect(kinds(ops)).toEqual(['create_activity', 'create_session:s-a', 'create_session:s-b']);
    expect(ops[0]).toMatchObject({ kind: 'create_activity', listing: activity(), fingerprint: listingFingerprint(activity()) });
    expect(ops[1]).toMatchObject({ listing: a.listing, fingerprint: listingFingerprint(a.listing) });
  });

  it('plans nothing when nothing changed, with or without a reconciliation read', () => {
    const published = publishedWith([pushed(a, 'slot-a'), pushed(b, 'slot-b')]);
    expect(planSync(desired([a, b]), published, { now: NOW })).toEqual([]);
    expect(planSync(desired([a, b]), published, { now: NOW, remote: [held(a, 'slot-a'), held(b, 'slot-b')] })).toEqual([]);
  });

  it('patches only the counts when only the counts changed', () => {
    const booked = session('s-a', 60, { totalCapacity: 9, totalBooked: 3 });
    const ops = planSync(desired([booked, b]), publishedWith([pushed(a, 'slot-a'), pushed(b, 'slot-b')]), { now: NOW });
    expect(ops).toEqual([{ kind: 'patch_counts', sessionId: 's-a', externalId: 'slot-a', totalCapacity: 9, totalBooked: 3 }]);
  });

  it('sends a count never recorded', () => {
    const ops = planSync(desired([a]), publishedWith([pushed(a, 'slot-a', { totalCapacity: null })]), { now: NOW });
    expect(kinds(ops)).toEqual(['patch_counts:s-a']);
  });

  it('updates a session whose details changed in one call that also carries new counts', () => {
    const moved = session('s-a', 90, { room: 'Room 2', totalBooked: 4 });
    const ops = planSync(desired([moved]), publishedWith([pushed(a, 'slot-a')]), { now: NOW });
    expect(ops).toEqual([
      { kind: 'update_session', sessionId: 's-a', externalId: 'slot-a', listing: moved.listing, fingerprint: listingFingerprint(moved.listing) },
    ]);
  });

  it('updates the activity when its details changed, and nothing else', () => {
    const renamed = activity({ name: 'Yin Yoga' });
    const ops = planSync(desired([a], { listing: renamed }), publishedWith([pushed(a, 'slot-a')]), { now: NOW });
    expect(ops).toEqual([{ kind: 'update_activity', externalId: 'class-1', listing: renamed, fingerprint: listingFingerprint(renamed) }]);
  });

  it('deletes a session that is no longer wanted (cancelled, or out of the horizon), once', () => {
    const ops = planSync(desired([b]), publishedWith([pushed(a, 'slot-a'), pushed(b, 'slot-b')]), { now: NOW });
    expect(ops).toEqual([{ kind: 'delete_session', sessionId: 's-a', externalId: 'slot-a' }]);
    const after = publishedWith([pushed(a, 'slot-a', { removed: true }), pushed(b, 'slot-b')]);
    expect(planSync(desired([b]), after, { now: NOW })).toEqual([]);
  });

  it('leaves sessions that have started alone', () => {
    const started = session('s-old', -30);
    const changed = session('s-old', -30, { room: 'Room 9', totalBooked: 5 });
    const published = publishedWith([pushed(started, 'slot-old')]);
    expect(planSync(desired([changed]), published, { now: NOW })).toEqual([]);
    expect(planSync(desired([]), published, { now: NOW })).toEqual([]);
    expect(planSync(desired([]), published, { now: NOW, remote: [held(changed, 'slot-old', { startsAt: undefined })] })).toEqual([]);
    // Never pushed and already started: too late to list it. At exactly now counts as started.
    expect(planSync(desired([session('s-now', 0)]), publishedWith([]), { now: NOW })).toEqual([]);
  });

  it('updates a session put back to later even though its old start has passed', () => {
    const delayed = session('s-a', 20);
    const published = publishedWith([pushed(session('s-a', -10), 'slot-a')]);
    expect(kinds(planSync(desired([delayed]), published, { now: NOW }))).toEqual(['update_session:s-a']);
  });

  it('hides an opted-out activity and removes its future sessions, leaving past ones', () => {
    const past = session('s-old', -90);
    const published = publishedWith([pushed(past, 'slot-old'), pushed(a, 'slot-a'), pushed(b, 'slot-b')]);
    const ops = planSync(desired([a, b], { offered: false }), published, { now: NOW });
    const hidden = activity({ visible: false, bookable: false });
    expect(ops).toEqual([
      { kind: 'hide_activity', externalId: 'class-1', listing: hidden, fingerprint: listingFingerprint(hidden) },
      { kind: 'delete_session', sessionId: 's-a', externalId: 'slot-a' },
      { kind: 'delete_session', sessionId: 's-b', externalId: 'slot-b' },
    ]);
    const after = publishedWith([pushed(past, 'slot-old'), pushed(a, 'slot-a', { removed: true }), pushed(b, 'slot-b', { removed: true })], {
      hidden: true,
      listing: hidden,
    });
    expect(planSync(desired([], { offered: false }), after, { now: NOW })).toEqual([]);
  });

  it('does nothing for an opted-out activity that was never pushed', () => {
    expect(planSync(desired([a], { offered: false }), { sessions: [] }, { now: NOW })).toEqual([]);
  });

  it('shows a hidden activity again when it is opted back in', () => {
    const hidden = activity({ visible: false, bookable: false });
    const published = publishedWith([pushed(a, 'slot-a', { removed: true })], { hidden: true, listing: hidden });
    expect(kinds(planSync(desired([a]), published, { now: NOW }))).toEqual(['update_activity', 'create_session:s-a']);
    // Even when the last fingerprint recorded is the visible one.
    expect(kinds(planSync(desired([]), publishedWith([], { hidden: true }), { now: NOW }))).toEqual(['update_activity']);
  });

  it('creates sessions after the activity when its id was never recorded', () => {
    const published: PublishedState = { activity: { externalId: null, fingerprint: null, hidden: false }, sessions: [] };
    expect(kinds(planSync(desired([a]), published, { now: NOW }))).toEqual(['create_activity', 'create_session:s-a']);
  });

  describe('reconciliation against what the aggregator holds', () => {
    const published = publishedWith([pushed(a, 'slot-a'), pushed(b, 'slot-b')]);

    it('recreates a session deleted at the aggregator', () => {
      const ops = planSync(desired([a, b]), published, { now: NOW, remote: [held(b, 'slot-b')] });
      expect(ops).toEqual([{ kind: 'create_session', sessionId: 's-a', listing: a.listing, fingerprint: listingFingerprint(a.listing) }]);
    });

    it('puts back a session changed at the aggregator', () => {
      const ops = planSync(desired([a, b]), published, { now: NOW, remote: [held(a, 'slot-a', { fingerprint: 'edited' }), held(b, 'slot-b')] });
      expect(kinds(ops)).toEqual(['update_session:s-a']);
    });

    it('puts back counts changed at the aggregator with a patch', () => {
      const ops = planSync(desired([a, b]), published, { now: NOW, remote: [held(a, 'slot-a'), held(b, 'slot-b', { totalBooked: 7 })] });
      expect(ops).toEqual([{ kind: 'patch_counts', sessionId: 's-b', externalId: 'slot-b', totalCapacity: 10, totalBooked: 0 }]);
    });

    it('deletes a session the aggregator holds that we do not want', () => {
      const stray = { externalId: 'slot-x', fingerprint: 'f', totalCapacity: 3, totalBooked: 0 };
      const ops = planSync(desired([a, b]), published, { now: NOW, remote: [held(a, 'slot-a'), held(b, 'slot-b'), stray] });
      expect(ops).toEqual([{ kind: 'delete_session', sessionId: null, externalId: 'slot-x' }]);
      // A session we recorded as removed that is still there is ours: it is named.
      const removed = publishedWith([pushed(a, 'slot-a', { removed: true })]);
      expect(planSync(desired([]), removed, { now: NOW, remote: [held(a, 'slot-a')] })).toEqual([
        { kind: 'delete_session', sessionId: 's-a', externalId: 'slot-a' },
      ]);
      // ...unless it has started.
      expect(planSync(desired([]), publishedWith([]), { now: NOW, remote: [{ ...stray, startsAt: minutesFromNow(-5) }] })).toEqual([]);
    });
  });
});

describe('listingFingerprint', () => {
  const s = session('s-a', 60).listing;

  it('does not depend on key order or on fields left undefined', () => {
    const reordered = Object.fromEntries(Object.entries(s).reverse()) as unknown as SessionListing;
    expect(listingFingerprint(reordered)).toBe(listingFingerprint(s));
    expect(listingFingerprint({ ...s, bookingOpensAt: undefined })).toBe(listingFingerprint(s));
    expect(listingFingerprint(s)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("leaves a session's counts out, and nothing else", () => {
    expect(listingFingerprint({ ...s, totalCapacity: 3, totalBooked: 2 })).toBe(listingFingerprint(s));
    expect(listingFingerprint({ ...s, room: 'Room 2' })).not.toBe(listingFingerprint(s));
    expect(listingFingerprint({ ...s, instructors: [{ name: 'Axel', substitute: true }] })).not.toBe(listingFingerprint(s));
    expect(listingFingerprint(activity({ visible: false }))).not.toBe(listingFingerprint(activity()));
  });
});

/** An aggregator and our ledger of what was pushed to it, changed by applying ops as the sync activities would. */
class World {
  published: PublishedState = { sessions: [] };
  remote = new Map<string, RemoteSession>();
  remoteActivity: { visible: boolean; fingerprint: string } | undefined;
  now = NOW;
  private nextId = 1;

  apply(ops: SyncOp[]): void {
    for (const op of ops) this.applyOne(op);
  }

  private record(sessionId: string, row: Omit<PublishedSession, 'sessionId'>): void {
    const rows = this.published.sessions.filter((p) => p.sessionId !== sessionId);
    this.published = { ...this.published, sessions: [...rows, { sessionId, ...row }] };
  }

  private applyOne(op: SyncOp): void {
    const pub = this.published;
    switch (op.kind) {
      case 'create_activity':
        expect(pub.activity?.externalId ?? null).toBeNull();
        this.published = { ...pub, activity: { externalId: `class-${this.nextId++}`, fingerprint: op.fingerprint, hidden: false } };
        this.remoteActivity = { visible: op.listing.visible, fingerprint: op.fingerprint };
        return;
      case 'update_activity':
      case 'hide_activity':
        expect(op.externalId).toBe(pub.activity?.externalId);
        this.published = { ...pub, activity: { externalId: op.externalId, fingerprint: op.fingerprint, hidden: op.kind === 'hide_activity' } };
        this.remoteActivity = { visible: op.listing.visible, fingerprint: op.fingerprint };
        return;
      case 'create_session':
      case 'update_session': {
        // Sessions need the activity at the aggregator: create_activity must have come first.
        expect(pub.activity?.externalId).toBeTruthy();
        const externalId = op.kind === 'create_session' ? `slot-${this.nextId++}` : op.externalId;
        if (op.kind === 'update_session') expect(this.remote.has(externalId)).toBe(true);
        const { totalCapacity, totalBooked } = op.listing;
        const startsAt = new Date(op.listing.startsAt);
        expect(startsAt.getTime()).toBeGreaterThan(this.now.getTime());
        this.remote.set(externalId, { externalId, fingerprint: remoteFingerprint(op.listing), totalCapacity, totalBooked, startsAt });
        this.record(op.sessionId, { externalId, fingerprint: op.fingerprint, totalCapacity, totalBooked, startsAt, removed: false });
        return;
      }
      case 'patch_counts': {
        const r = this.remote.get(op.externalId);
        expect(r).toBeDefined();
        this.remote.set(op.externalId, { ...r!, totalCapacity: op.totalCapacity, totalBooked: op.totalBooked });
        const p = pub.sessions.find((s) => s.sessionId === op.sessionId)!;
        this.record(op.sessionId, { ...p, totalCapacity: op.totalCapacity, totalBooked: op.totalBooked });
        return;
      }
      case 'delete_session': {
        const r = this.remote.get(op.externalId);
        if (r?.startsAt) expect(r.startsAt.getTime()).toBeGreaterThan(this.now.getTime());
        this.remote.delete(op.externalId);
        const p = pub.sessions.find((s) => s.sessionId === op.sessionId && s.externalId === op.externalId);
        if (p) this.record(p.sessionId, { ...p, removed: true });
        return;
      }
    }
  }

  remoteList(): RemoteSession[] {
    return [...this.remote.values()];
  }
}

const SESSION_IDS = ['s1', 's2', 's3', 's4', 's5'];

const desiredArb = fc.record({
  offered: fc.boolean(),
  name: fc.constantFrom('Yoga', 'Pilates'),
  sessions: fc.uniqueArray(
    fc.record({
      id: fc.constantFrom(...SESSION_IDS),
      startsIn: fc.integer({ min: -4, max: 10 }).map((half) => half * 30),
      room: fc.constantFrom('Room 1', 'Room 2'),
      capacity: fc.integer({ min: 0, max: 4 }),
      booked: fc.integer({ min: 0, max: 4 }),
    }),
    { selector: (s) => s.id, maxLength: SESSION_IDS.length },
  ),
});

type DesiredSpec = typeof desiredArb extends fc.Arbitrary<infer T> ? T : never;

function build(spec: DesiredSpec, now: Date): DesiredState {
  const sessions = spec.sessions.map((s) => {
    const startsAt = minutesFromNow(s.startsIn);
    const listing: SessionListing = {
      sessionId: s.id,
      startsAt: formatInOffset(startsAt, '+01:00'),
      durationMinutes: 60,
      room: s.room,
      instructors: [],
      totalCapacity: s.capacity,
      totalBooked: Math.min(s.booked, s.capacity),
      active: true,
    };
    return { sessionId: s.id, listing, startsAt };
  });
  // Only scheduled sessions of an offered activity, that have not started, are wanted by the caller.
  const wanted = spec.offered ? sessions.filter((s) => s.startsAt.getTime() > now.getTime()) : [];
  return { activity: { listing: activity({ name: spec.name }), offered: spec.offered }, sessions: wanted };
}

const driftArb = fc.record({
  deleteRemote: fc.array(fc.nat(), { maxLength: 3 }),
  editRemote: fc.array(fc.record({ pick: fc.nat(), details: fc.boolean() }), { maxLength: 3 }),
  extras: fc.array(fc.integer({ min: -2, max: 10 }).map((half) => half * 30), { maxLength: 2 }),
});

type Drift = typeof driftArb extends fc.Arbitrary<infer T> ? T : never;

function drift(world: World, d: Drift): void {
  const pick = (n: number) => world.remoteList()[n % Math.max(1, world.remote.size)];
  for (const n of d.deleteRemote) {
    const r = pick(n);
    if (r) world.remote.delete(r.externalId);
  }
  for (const { pick: n, details } of d.editRemote) {
    const r = pick(n);
    if (r) world.remote.set(r.externalId, details ? { ...r, fingerprint: 'edited at the aggregator' } : { ...r, totalBooked: r.totalBooked + 1 });
  }
  if (!world.published.activity?.externalId) return;
  d.extras.forEach((startsIn, i) => {
    const externalId = `stray-${i}`;
    world.remote.set(externalId, { externalId, fingerprint: 'stray', totalCapacity: 1, totalBooked: 0, startsAt: minutesFromNow(startsIn) });
  });
}

/** The aggregator lists exactly the wanted sessions that have not started, with the wanted details and counts. */
function expectConverged(world: World, want: DesiredState, now: Date): void {
  const future = want.sessions.filter((s) => s.startsAt.getTime() > now.getTime());
  const remoteFuture = world.remoteList().filter((r) => !r.startsAt || r.startsAt.getTime() > now.getTime());
  expect(remoteFuture).toHaveLength(future.length);
  for (const s of future) {
    const p = world.published.sessions.find((row) => row.sessionId === s.sessionId && !row.removed);
    const r = p?.externalId ? world.remote.get(p.externalId) : undefined;
    expect(r).toMatchObject({ fingerprint: remoteFingerprint(s.listing), totalCapacity: s.listing.totalCapacity, totalBooked: s.listing.totalBooked });
  }
  if (world.remoteActivity) expect(world.remoteActivity.visible).toBe(want.activity.offered);
}

describe('planSync properties', () => {
  it('converges: after applying a plan, planning again finds nothing to do', () => {
    fc.assert(
      fc.property(
        desiredArb,
        fc.option(desiredArb, { nil: undefined, freq: 1 }),
        fc.integer({ min: 0, max: 120 }),
        fc.option(driftArb, { nil: undefined }),
        (before, changed, minutesLater, drifted) => {
          const world = new World();
          world.apply(planSync(build(before, NOW), world.published, { now: NOW }));

          const later = minutesFromNow(minutesLater);
          world.now = later;
          if (drifted) drift(world, drifted);
          // Often the studio changed nothing, so only drift at the aggregator is there to repair.
          const want = build(changed ?? before, later);
          const remote = drifted ? world.remoteList() : undefined;
          world.apply(planSync(want, world.published, { now: later, remote }));

          expect(planSync(want, world.published, { now: later })).toEqual([]);
          if (drifted) {
            expect(planSync(want, world.published, { now: later, remote: world.remoteList() })).toEqual([]);
            expectConverged(world, want, later);
          }
        },
      ),
    );
  });

  it('never touches a session that has started, and puts the activity before its sessions', () => {
    fc.assert(
      fc.property(desiredArb, desiredArb, fc.integer({ min: 0, max: 120 }), driftArb, (before, after, minutesLater, drifted) => {
        const world = new World();
        world.apply(planSync(build(before, NOW), world.published, { now: NOW }));
        const later = minutesFromNow(minutesLater);
        world.now = later;
        drift(world, drifted);
        const want = build(after, later);
        const wantedIds = new Set(want.sessions.map((s) => s.sessionId));
        const started = world.published.sessions.filter((p) => p.startsAt.getTime() <= later.getTime() && !wantedIds.has(p.sessionId));
        const startedIds = new Set(started.map((p) => p.sessionId));
        const ops = planSync(want, world.published, { now: later, remote: world.remoteList() });
        for (const op of ops) if ('sessionId' in op && op.sessionId !== null) expect(startedIds.has(op.sessionId)).toBe(false);
        const firstActivityOp = ops.findIndex((op) => op.kind.endsWith('_activity'));
        expect(firstActivityOp).toBeLessThanOrEqual(0);
        // World.apply checks each op is possible: the activity exists, past sessions are not written.
        world.apply(ops);
      }),
    );
  });
});
