import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exportedMetricNames, registry } from '../../lib/metrics.js';
import { TEMPORAL_SDK_METRICS } from '../support/temporal-metrics.js';

// The files ops load as they are (ops/prometheus/alerts.yml, ops/grafana/aggregator-bookings.json), checked the way
// Prometheus and Grafana would read them, and against what the service exports: a metric renamed in lib/metrics.ts
// without its alert or panel fails here rather than leave an alert that can never fire.

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Series Prometheus itself writes. */
const PROMETHEUS_SERIES = ['up'];

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects. Not a full parser: strings, label matchers, ranges and grouping
 * clauses are removed, then every identifier not called as a function and not a keyword is a metric name. Also
 * checks that brackets balance, which Prometheus and Grafana would refuse otherwise.
 */
export function metricNamesOf(expr: string): string[] {
  let depth = 0;
  for (const char of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('({['.includes(char)) depth += 1;
    if (')}]'.includes(char)) depth -= 1;
    if (depth < 0) throw new Error(`unbalanced brackets in ${expr}`);
  }
  if (depth !== 0) throw new Error(`unbalanced brackets in ${expr}`);
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  return [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)]
    .filter((m) => m[2] === undefined && !PROMQL_KEYWORDS.has((m[1] as string).toLowerCase()))
    .map((m) => m[1] as string);
}

/** A selected series name is known when it is one of ours (a histogram's _bucket/_sum/_count too) or of the SDK or Prometheus. */
function unknownNames(names: string[]): string[] {
  const ours = new Set(exportedMetricNames());
  const histograms = new Set(
    registry
      .getMetricsAsArray()
      .filter((m) => (m as unknown as { constructor: { name: string } }).constructor.name === 'Histogram')
      .map((m) => (m as unknown as { name: string }).name),
  );
  return names.filter((name) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (ours.has(name) || (ours.has(base) && histograms.has(base))) return false;
    if (TEMPORAL_SDK_METRICS.includes(name) || TEMPORAL_SDK_METRICS.includes(base)) return false;
    return !PROMETHEUS_SERIES.includes(name);
  });
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe('metric names in PromQL', () => {
  it('are found in selectors, functions, aggregations and binary expressions', () => {
    expect(metricNamesOf('sum by (aggregator) (rate(a_total{status=~"5xx|429"}[5m])) / sum without (x) (rate(b_total[$__rate_interval])) > 0.5')).toEqual(['a_total', 'b_total']);
    expect(metricNamesOf('histogram_quantile(0.95, sum by (le) (rate(h_seconds_bucket[5m]))) and on (job) up == 0')).toEqual(['h_seconds_bucket', 'up']);
    expect(() => metricNamesOf('sum(rate(x[5m])')).toThrow(/unbalanced/);
    expect(unknownNames(['aggregator_bookings_webhook_ack_duration_seconds_bucket', 'aggregator_bookings_webhooks_received_totl'])).toEqual([
      'aggregator_bookings_webhooks_received_totl',
    ]);
  });
});

describe('ops/prometheus/alerts.yml', () => {
  const file = parse(read('ops/prometheus/alerts.yml')) as { groups: Array<{ name: string; rules: Rule[] }> };
  const rules = file.groups.flatMap((group) => group.rules);
  const byName = new Map(rules.map((rule) => [rule.alert, rule]));

  it('is a Prometheus rule file: named groups of rules, each with an expression, a duration and its annotations', () => {
    expect(file.groups.length).toBeGreaterThan(0);
    expect(new Set(file.groups.map((g) => g.name)).size).toBe(file.groups.length);
    expect(Object.keys(file)).toEqual(['groups']);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(Object.keys(rule).every((key) => ['alert', 'expr', 'for', 'labels', 'annotations'].includes(key)), rule.alert).toBe(true);
      expect(typeof rule.expr, rule.alert).toBe('string');
      if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^(\d+(ms|s|m|h|d|w|y))+$/);
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      for (const key of ['summary', 'description', 'runbook']) expect(rule.annotations?.[key]?.trim().length ?? 0, `${rule.alert} ${key}`).toBeGreaterThan(10);
      // Go templates in annotations: balanced, and only the labels and the value.
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const m of text.matchAll(/\{\{(.*?)\}\}/g)) expect(m[1], rule.alert).toMatch(/^\s*\$(labels\.\w+|value)(\s*\|\s*\w+)?\s*$/);
        expect(text.split('{{').length, rule.alert).toBe(text.split('}}').length);
      }
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('selects only metrics the service, the Temporal SDK or Prometheus export', () => {
    for (const rule of rules) expect(unknownNames(metricNamesOf(rule.expr)), rule.alert).toEqual([]);
  });

  it('has the three alerts the product asks for', () => {
    // A request unanswered 10 minutes before its deadline: the nearest deadline gauge below 600 s, at once.
    const deadline = byName.get('BookingRequestNearDeadlineUnanswered');
    expect(deadline?.expr).toMatch(/aggregator_bookings_booking_request_nearest_deadline_seconds\) < 600$/);
    expect(deadline?.for).toBeUndefined();
    // A connection failing for 15 minutes.
    const failing = byName.get('ConnectionSyncFailing');
    expect(failing?.expr).toMatch(/aggregator_bookings_connection_sync_errors\) > 0$/);
    expect(failing?.for).toBe('15m');
    expect(failing?.expr).toContain('connection_id');
    // Dead inbox rows: events that cannot be handed over.
    expect(byName.get('InboxEventsDead')?.expr).toMatch(/aggregator_bookings_inbox_events_dead\) > 0$/);
  });
});

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string }>;
}

describe('ops/grafana/aggregator-bookings.json', () => {
  const dashboard = JSON.parse(read('ops/grafana/aggregator-bookings.json')) as {
    __inputs: Array<{ name: string; type: string; pluginId: string }>;
    uid: string;
    title: string;
    panels: Panel[];
    templating: { list: Array<{ name: string; datasource?: { uid: string }; query?: { query: string } }> };
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('is an importable dashboard whose datasource is chosen at import', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(new Set(panel.targets?.map((t) => t.refId)).size, panel.title).toBe(panel.targets?.length);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
    const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const variable of dashboard.templating.list) if (variable.datasource) expect(variable.datasource.uid).toBe('${DS_PROMETHEUS}');
  });

  it('selects only metrics the service, the Temporal SDK or Prometheus export', () => {
    for (const { panel, expr } of exprs) expect(unknownNames(metricNamesOf(expr)), panel).toEqual([]);
    for (const variable of dashboard.templating.list) {
      const query = variable.query?.query ?? '';
      const selected = /label_values\((\w+),/.exec(query)?.[1];
      if (selected !== undefined) expect(unknownNames([selected]), variable.name).toEqual([]);
    }
  });

  it('has a panel for every metric family of the service, and some of the Temporal SDK', () => {
    const used = new Set(exprs.flatMap(({ expr }) => metricNamesOf(expr).map((name) => name.replace(/_(bucket|sum|count)$/, ''))));
    const ours = exportedMetricNames().filter((name) => !/_(process|nodejs)_/.test(name));
    expect(ours.filter((name) => !used.has(name))).toEqual([]);
    expect([...used].filter((name) => name.startsWith('temporal_')).length).toBeGreaterThanOrEqual(3);
  });
});
