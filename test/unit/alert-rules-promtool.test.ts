import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cacheRoot } from '../../temporal/binaries.js';

// The alert rules run by Prometheus's own rule engine: `promtool check rules` on the file as shipped (syntax, PromQL,
// annotation templates), and `promtool test rules` with series that must and must not fire each alert, at the times
// they must. promtool is installed into the cache by scripts/install-promtool.sh (scripts/test.sh runs it); where
// it could not be, this file is skipped and test/unit/ops-files.test.ts still checks the rules' structure and names.

const root = path.resolve(__dirname, '../..');
const promtool = process.env.PROMTOOL ?? path.join(cacheRoot(), 'promtool', 'promtool');
const available = existsSync(promtool);
if (!available) console.warn(`[alert-rules] promtool not found at ${promtool}: skipped (bash scripts/install-promtool.sh)`);

const work = mkdtempSync(path.join(os.tmpdir(), 'alert-rules-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (...args: string[]) => {
  const result = spawnSync(promtool, args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
};

/**
 * The cases: the three alerts the product asks for at the edge of their thresholds and durations, and the others
 * firing when they should. Two API processes report the same ledger gauges (`instance` a and b): one alert, not two.
 * Expected alerts compare labels; the annotations are checked by `check rules` and by ops-files.test.ts, so the cases
 * run against a copy of the rules without them (promtool would otherwise compare every rendered text).
 */
const CASES = `
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_booking_request_nearest_deadline_seconds{aggregator="wellhub",instance="a"}'
        values: '700 650 590 530'
      - series: 'aggregator_bookings_booking_request_nearest_deadline_seconds{aggregator="wellhub",instance="b"}'
        values: '700 650 590 530'
      - series: 'aggregator_bookings_booking_request_nearest_deadline_seconds{aggregator="classpass",instance="a"}'
        values: '880 870 860 850'
    alert_rule_test:
      - eval_time: 1m
        alertname: BookingRequestNearDeadlineUnanswered
        exp_alerts: []
      - eval_time: 2m
        alertname: BookingRequestNearDeadlineUnanswered
        exp_alerts:
          - exp_labels: { severity: critical, aggregator: wellhub }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_connection_sync_errors{connection_id="c1",aggregator="workit",instance="a"}'
        values: '0 1x20'
      - series: 'aggregator_bookings_connection_sync_errors{connection_id="c2",aggregator="workit",instance="a"}'
        values: '0x20'
      - series: 'aggregator_bookings_connection_sync_errors{connection_id="c3",aggregator="onefit",instance="a"}'
        values: '0 1x10 0x10'
    alert_rule_test:
      - eval_time: 15m
        alertname: ConnectionSyncFailing
        exp_alerts: []
      - eval_time: 16m
        alertname: ConnectionSyncFailing
        exp_alerts:
          - exp_labels: { severity: warning, connection_id: c1, aggregator: workit }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_inbox_events_dead{aggregator="egym_wellpass",instance="a"}'
        values: '0 0 2'
      - series: 'aggregator_bookings_inbox_events_dead{aggregator="wellhub",instance="a"}'
        values: '0 0 0'
    alert_rule_test:
      - eval_time: 1m
        alertname: InboxEventsDead
        exp_alerts: []
      - eval_time: 2m
        alertname: InboxEventsDead
        exp_alerts:
          - exp_labels: { severity: critical, aggregator: egym_wellpass }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_aggregator_requests_total{aggregator="onefit",operation="cancelSession",status="5xx"}'
        values: '0+60x30'
      - series: 'aggregator_bookings_aggregator_requests_total{aggregator="onefit",operation="cancelSession",status="2xx"}'
        values: '0+10x30'
      - series: 'aggregator_bookings_aggregator_requests_total{aggregator="wellhub",operation="putSlot",status="2xx"}'
        values: '0+60x30'
    alert_rule_test:
      - eval_time: 25m
        alertname: AggregatorCallsFailing
        exp_alerts:
          - exp_labels: { severity: warning, aggregator: onefit }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_inbox_oldest_waiting_age_seconds{aggregator="workit",instance="a"}'
        values: '0+60x15'
      - series: 'aggregator_bookings_lifecycle_outbox_oldest_age_seconds{instance="a"}'
        values: '0+60x15'
    alert_rule_test:
      - eval_time: 10m
        alertname: InboxHandoverStalled
        exp_alerts: []
      - eval_time: 11m
        alertname: InboxHandoverStalled
        exp_alerts:
          - exp_labels: { severity: warning, aggregator: workit }
      - eval_time: 11m
        alertname: LifecycleOutboxStalled
        exp_alerts:
          - exp_labels: { severity: warning }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_cancellation_branches_open{aggregator="classpass",status="retrying",instance="a"}'
        values: '1x70'
      - series: 'aggregator_bookings_cancellation_branch_oldest_open_age_seconds{aggregator="classpass",instance="a"}'
        values: '0+60x70'
    alert_rule_test:
      - eval_time: 60m
        alertname: CancellationBranchRetrying
        exp_alerts: []
      - eval_time: 61m
        alertname: CancellationBranchRetrying
        exp_alerts:
          - exp_labels: { severity: warning, aggregator: classpass }

  - interval: 1m
    input_series:
      - series: 'aggregator_bookings_ledger_read_up{instance="a"}'
        values: '1 0x10'
      - series: 'aggregator_bookings_ledger_read_up{instance="b"}'
        values: '1x10'
      - series: 'up{job="aggregator-bookings-worker",instance="w"}'
        values: '1 0x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: LedgerStateUnreadable
        exp_alerts: []
      - eval_time: 6m
        alertname: LedgerStateUnreadable
        exp_alerts:
          - exp_labels: { severity: critical, instance: a }
      - eval_time: 6m
        alertname: MetricsTargetDown
        exp_alerts:
          - exp_labels: { severity: critical, job: aggregator-bookings-worker, instance: w }

  - interval: 1m
    input_series:
      - series: 'temporal_workflow_task_schedule_to_start_latency_seconds_bucket{le="0.5"}'
        values: '0x20'
      - series: 'temporal_workflow_task_schedule_to_start_latency_seconds_bucket{le="2"}'
        values: '0+10x20'
      - series: 'temporal_workflow_task_schedule_to_start_latency_seconds_bucket{le="+Inf"}'
        values: '0+10x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: TemporalWorkflowTasksQueued
        exp_alerts:
          - exp_labels: { severity: warning }
`;

describe.skipIf(!available)('the alert rules under promtool', () => {
  it('pass `promtool check rules` as shipped, and the example configuration `promtool check config`', () => {
    const rules = run('check', 'rules', path.join(root, 'ops/prometheus/alerts.yml'));
    expect(rules.status, rules.output).toBe(0);
    expect(rules.output).toMatch(/SUCCESS: \d+ rules found/);
    const config = run('check', 'config', path.join(root, 'ops/prometheus/prometheus.yml'));
    expect(config.status, config.output).toBe(0);
  });

  it('fire when they must and not before (`promtool test rules`)', () => {
    const shipped = parse(readFileSync(path.join(root, 'ops/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
    for (const group of shipped.groups) for (const rule of group.rules) delete rule.annotations;
    writeFileSync(path.join(work, 'rules.yml'), stringify(shipped));
    writeFileSync(path.join(work, 'cases.yml'), CASES);
    const result = run('test', 'rules', 'cases.yml');
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('would catch an alert that does not fire (the cases can fail)', () => {
    const shipped = parse(readFileSync(path.join(root, 'ops/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
    for (const group of shipped.groups) {
      for (const rule of group.rules) {
        delete rule.annotations;
        if (rule.alert === 'ConnectionSyncFailing') rule.for = '30m';
      }
    }
    writeFileSync(path.join(work, 'rules.yml'), stringify(shipped));
    writeFileSync(path.join(work, 'cases.yml'), CASES);
    const result = run('test', 'rules', 'cases.yml');
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('ConnectionSyncFailing');
  });
});
