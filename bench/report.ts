/** What every benchmark prints with: progress lines, summaries of latencies, text tables, the machine it ran on. */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { percentile } from './options.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const runStarted = performance.now();
const loadAtStart = os.loadavg();

/** Milliseconds since this benchmark process started. */
export const sinceStart = () => performance.now() - runStarted;

/** A progress line on stderr, stamped with the seconds since the benchmark started (the report goes to stdout). */
export function progress(message: string): void {
  process.stderr.write(`[bench ${(sinceStart() / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * Nearest-rank percentiles of the values. Infinity stands for a request that never completed and counts (it pushes
 * the high percentiles to "unfinished"); with `finiteOnly`, such values are left out instead.
 */
export function summary(values: number[], finiteOnly = false): Summary {
  const sorted = values.filter((v) => !Number.isNaN(v) && (!finiteOnly || Number.isFinite(v))).sort((a, b) => a - b);
  const finite = sorted.filter((v) => Number.isFinite(v));
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: finite.length === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / finite.length,
  };
}

export const mean = (values: number[]) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);

/** A latency in ms for tables: "-" for none, "unfinished" for requests that did not get there within the wait. */
export const ms = (value: number | undefined) =>
  value === undefined || Number.isNaN(value) ? '-' : value === Number.POSITIVE_INFINITY ? 'unfinished' : `${Math.round(value)}`;
/** The same for text: "123 ms", or "unfinished". */
export const msText = (value: number): string => (Number.isFinite(value) ? `${Math.round(value)} ms` : ms(value));
export const ratio = (value: number, floor: number) =>
  Number.isFinite(value) && Number.isFinite(floor) && floor > 0 ? `×${(value / floor).toFixed(1)}` : '×-';
export const withFloor = (label: string, value: number, floor: number | undefined) =>
  floor === undefined ? `${label} ${msText(value)}` : `${label} ${msText(value)} (floor ${msText(floor)}, ${ratio(value, floor)})`;

/** Table cells of a summary's figures, in ms. */
export const msCells = (s: Summary, keys: readonly (keyof Summary)[] = ['p50', 'p95', 'p99', 'max']) => keys.map((k) => ms(s[k]));

/** A text table: the first column (and the last, when `textLast`) left-aligned, the others right-aligned. */
export function table(header: string[], rows: (string | number)[][], textLast = false): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const left = (i: number) => i === 0 || (textLast && i === header.length - 1);
  const line = (cells: (string | number)[]) =>
    `    ${cells.map((c, i) => (left(i) ? String(c).padEnd(widths[i] ?? 0) : String(c).padStart(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The report's header lines: when, on what, and how loaded the machine was when the run started and now. */
export function machineLines(): string[] {
  const cpus = os.cpus();
  const models = [...new Set(cpus.map((cpu) => cpu.model.trim()))].join(' / ') || 'unknown CPU';
  return [
    `  date       ${new Date().toISOString()}`,
    `  machine    ${models} x ${cpus.length}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${os.platform()} ${os.arch()} (${os.release()}), Node ${process.version}`,
    `  load       average ${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} (1 / 5 / 15 min) when the run started, ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} now`,
  ];
}

/** An instant written in the venue's local time with its offset, e.g. 2026-12-01T18:00:00+01:00. */
export function localIso(epochMs: number, timeZone: string): string {
  const name =
    new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(new Date(epochMs)).find((p) => p.type === 'timeZoneName')
      ?.value ?? 'GMT';
  const offset = name === 'GMT' ? '+00:00' : name.slice(3);
  const sign = offset.startsWith('-') ? -1 : 1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  return `${new Date(epochMs + minutes * 60_000).toISOString().slice(0, 19)}${offset}`;
}

/** Runs the tasks with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
