import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorHttpError, JsonHttpClient } from '../../aggregators/http.js';
import {
  aggregatorLabel,
  exportedMetricNames,
  recordAnswer,
  recordDecision,
  registry,
  serveMetrics,
  setLedgerReader,
  statusLabel,
  webhooksReceived,
  type LedgerState,
} from '../../lib/metrics.js';
import { sample } from '../support/prometheus-text.js';

const EMPTY: LedgerState = { requests: [], inbox: [], connections: [], cancellationBranches: [], lifecycleOutbox: { waiting: 0, oldestAgeSeconds: null } };

afterEach(() => setLedgerReader(undefined));

describe('the metrics registry', () => {
  it('renders Prometheus text with every instrument prefixed aggregator_bookings_ and units in the name', async () => {
    webhooksReceived.inc({ aggregator: 'wellhub', outcome: 'accepted' });
    setLedgerReader(() => Promise.resolve(EMPTY), { cacheMs: 0 });
    const text = await registry.metrics();
    expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const names = [...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => ({ name: m[1] as string, type: m[2] as string }));
    expect(names.length).toBeGreaterThan(20);
    for (const { name, type } of names) {
      expect(name).toMatch(/^aggregator_bookings_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
    for (const name of [
      'aggregator_bookings_webhooks_received_total',
      'aggregator_bookings_webhook_ack_duration_seconds',
      'aggregator_bookings_booking_request_decision_duration_seconds',
      'aggregator_bookings_booking_request_answer_duration_seconds',
      'aggregator_bookings_aggregator_request_duration_seconds',
      'aggregator_bookings_aggregator_requests_total',
      'aggregator_bookings_booking_requests_waiting',
      'aggregator_bookings_booking_request_nearest_deadline_seconds',
      'aggregator_bookings_inbox_events_dead',
      'aggregator_bookings_connection_sync_errors',
      'aggregator_bookings_connection_sync_lag_seconds',
      'aggregator_bookings_cancellation_branches_open',
    ]) {
      expect(names.map((n) => n.name)).toContain(name);
    }
    expect(sample(text, 'aggregator_bookings_webhooks_received_total', { aggregator: 'wellhub', outcome: 'accepted' })).toBeGreaterThanOrEqual(1);
  });

  it('bounds its labels: known aggregators or "unknown", status classes, never a raw status or path', () => {
    expect(aggregatorLabel('wellhub')).toBe('wellhub');
    expect(aggregatorLabel('../../etc/passwd')).toBe('unknown');
    expect([200, 201, 302, 404, 409, 429, 500, 503].map((s) => statusLabel(s))).toEqual(['2xx', '2xx', '3xx', '4xx', '4xx', '429', '5xx', '5xx']);
    expect(statusLabel(undefined, 'timeout')).toBe('timeout');
    expect(statusLabel(undefined)).toBe('network');
  });

  it('measures decisions and answers in seconds, never negative (clocks of the aggregator and ours differ)', async () => {
    recordDecision('workit', 'reserve', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:02Z'));
    recordDecision('workit', 'reserve', new Date('2026-01-01T00:00:05Z'), new Date('2026-01-01T00:00:00Z'));
    recordAnswer('workit', 'reject', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00.300Z'));
    const text = await registry.metrics();
    expect(sample(text, 'aggregator_bookings_booking_request_decision_duration_seconds_count', { aggregator: 'workit', decision: 'reserve' })).toBe(2);
    expect(sample(text, 'aggregator_bookings_booking_request_decision_duration_seconds_sum', { aggregator: 'workit', decision: 'reserve' })).toBe(2);
    expect(sample(text, 'aggregator_bookings_booking_request_answer_duration_seconds_bucket', { aggregator: 'workit', decision: 'reject', le: '0.25' })).toBe(0);
    expect(sample(text, 'aggregator_bookings_booking_request_answer_duration_seconds_bucket', { aggregator: 'workit', decision: 'reject', le: '0.5' })).toBe(1);
  });
});

describe('aggregator calls', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('are timed and counted by aggregator, operation and status class, whatever the answer', async () => {
    const answers = [200, 429, 503, 404];
    const fetchImpl = (() => {
      const status = answers.shift() ?? 200;
      return Promise.resolve(new Response(status === 200 ? '{}' : '{"message":"no"}', { status, headers: { 'content-type': 'application/json' } }));
    }) as typeof fetch;
    const client = new JsonHttpClient({ aggregator: 'egym_wellpass', baseUrl: 'http://x.test', fetchImpl });
    const before = await registry.metrics();
    const count = (text: string, status: string) => sample(text, 'aggregator_bookings_aggregator_requests_total', { aggregator: 'egym_wellpass', operation: 'cancelSession', status }) ?? 0;
    for (let i = 0; i < 4; i += 1) await client.request({ method: 'POST', path: '/x', operation: 'cancelSession' }).catch((e: unknown) => expect(e).toBeInstanceOf(AggregatorHttpError));
    const timedOut = new JsonHttpClient({ aggregator: 'egym_wellpass', baseUrl: 'http://x.test', timeoutMs: 20, fetchImpl: ((_u: string, init: RequestInit) => new Promise((_r, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error)))) as typeof fetch });
    await expect(timedOut.request({ method: 'POST', path: '/x', operation: 'cancelSession' })).rejects.toThrow(/no answer within 20 ms/);
    const after = await registry.metrics();
    for (const status of ['2xx', '429', '5xx', '4xx', 'timeout']) expect(count(after, status) - count(before, status), status).toBe(1);
    expect(sample(after, 'aggregator_bookings_aggregator_request_duration_seconds_count', { aggregator: 'egym_wellpass', status: 'timeout' })).toBeGreaterThanOrEqual(1);
  });
});

describe('the ledger state gauges', () => {
  it('are absent in a process without a ledger reader (the worker)', async () => {
    const text = await registry.metrics();
    expect(text).not.toContain('aggregator_bookings_booking_requests_waiting');
    expect(text).not.toContain('aggregator_bookings_ledger_read_up');
    // They are the service's all the same (an API process exports them): the rules may use them.
    expect(exportedMetricNames()).toContain('aggregator_bookings_booking_requests_waiting');
  });

  it('show what the reader returns, with zeros for every aggregator where nothing waits', async () => {
    setLedgerReader(
      () => Promise.resolve({
        ...EMPTY,
        requests: [
          { aggregator: 'wellhub', stage: 'awaiting_approval', waiting: 2, oldestAgeSeconds: 300, nearestDeadlineSeconds: 540 },
          { aggregator: 'wellhub', stage: 'answering', waiting: 1, oldestAgeSeconds: 20, nearestDeadlineSeconds: 880 },
        ],
        inbox: [{ aggregator: 'classpass', waiting: 0, oldestWaitingAgeSeconds: null, dead: 3 }],
        connections: [{ connectionId: '5d1f8c9e-0000-4000-8000-000000000001', aggregator: 'workit', syncErrors: 1, syncLagSeconds: 1800, lastErrorAtSeconds: 1_800_000_000 }],
        cancellationBranches: [{ aggregator: 'onefit', status: 'retrying', open: 4, oldestAgeSeconds: 7200 }],
        lifecycleOutbox: { waiting: 1, oldestAgeSeconds: 3 },
      } satisfies LedgerState),
      { cacheMs: 0 },
    );
    const text = await registry.metrics();
    expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(1);
    expect(sample(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'awaiting_approval' })).toBe(2);
    expect(sample(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'onefit', stage: 'answering' })).toBe(0);
    expect(sample(text, 'aggregator_bookings_booking_request_oldest_waiting_age_seconds', { aggregator: 'wellhub' })).toBe(300);
    expect(sample(text, 'aggregator_bookings_booking_request_nearest_deadline_seconds', { aggregator: 'wellhub' })).toBe(540);
    expect(sample(text, 'aggregator_bookings_booking_request_nearest_deadline_seconds', { aggregator: 'onefit' })).toBeUndefined();
    expect(sample(text, 'aggregator_bookings_inbox_events_dead', { aggregator: 'classpass' })).toBe(3);
    expect(sample(text, 'aggregator_bookings_inbox_events_dead', { aggregator: 'wellhub' })).toBe(0);
    const connection = { connection_id: '5d1f8c9e-0000-4000-8000-000000000001', aggregator: 'workit' };
    expect(sample(text, 'aggregator_bookings_connection_sync_errors', connection)).toBe(1);
    expect(sample(text, 'aggregator_bookings_connection_sync_lag_seconds', connection)).toBe(1800);
    expect(sample(text, 'aggregator_bookings_cancellation_branches_open', { aggregator: 'onefit', status: 'retrying' })).toBe(4);
    expect(sample(text, 'aggregator_bookings_lifecycle_outbox_waiting')).toBe(1);
  });

  it('answer a scrape when the read fails or hangs: ledger_read_up 0, the state gauges absent, within the bound', async () => {
    setLedgerReader(() => Promise.reject(new Error('connect ECONNREFUSED')), { cacheMs: 0 });
    let text = await registry.metrics();
    expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(0);
    expect(sample(text, 'aggregator_bookings_booking_requests_waiting', { aggregator: 'wellhub', stage: 'answering' })).toBeUndefined();

    let reads = 0;
    setLedgerReader(
      () => {
        reads += 1;
        return new Promise<LedgerState>(() => undefined);
      },
      { timeoutMs: 100, cacheMs: 0 },
    );
    const started = Date.now();
    text = await registry.metrics();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(0);
    // The hung read is not joined by another at the next scrape.
    text = await registry.metrics();
    expect(sample(text, 'aggregator_bookings_ledger_read_up')).toBe(0);
    expect(reads).toBe(1);
  });

  it('share one read between the gauges of a scrape and between scrapes close together', async () => {
    let reads = 0;
    setLedgerReader(
      () => {
        reads += 1;
        return Promise.resolve(EMPTY);
      },
      { cacheMs: 60_000 },
    );
    await Promise.all([registry.metrics(), registry.metrics(), registry.metrics()]);
    expect(reads).toBe(1);
  });
});

describe('the /metrics listener', () => {
  it('serves GET and HEAD on /metrics only', async () => {
    const server = createServer((req, res) => void serveMetrics(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await fetch(`${base}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await ok.text()).toContain('# TYPE aggregator_bookings_webhooks_received_total counter');
      expect((await fetch(`${base}/metrics`, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
      expect((await fetch(`${base}/v1/companies`)).status).toBe(404);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
