/**
 * Who used the CPU during a measurement, from /proc: the machine as a whole, each kind of process of the stack (its
 * process group and their descendants: PostgreSQL puts itself in a session of its own), this benchmark process,
 * and everything else on the machine (other work sharing it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc (USER_HZ; 100 on Linux). */
const CLK_TCK = 100;

/**
 * api and worker: `bin/service.ts api` / `worker` in processes of their own (the production shape); service: any
 * other node process of the stack (`bin/service.ts start` with everything in it, or the process holding the
 * sandboxes beside a split service).
 */
export const PROCESS_KINDS = ['service', 'api', 'worker', 'temporal', 'postgres'] as const;
export type ProcessKind = (typeof PROCESS_KINDS)[number];

export interface CpuSnapshot {
  at: number;
  /** /proc/stat's first line: user nice system idle iowait irq softirq steal. */
  machine: number[];
  /** Ticks used so far by each process of the stack. */
  procs: Map<number, { kind: ProcessKind; ticks: number }>;
  bench: NodeJS.CpuUsage;
}

/** Cores busy on average over a window. */
export interface CpuUse {
  seconds: number;
  /** Busy cores (user, system, irq), whoever used them; the machine has os.cpus().length. */
  machine: number;
  iowaitPct: number;
  stealPct: number;
  /** The stack's processes together, and by kind. */
  stack: number;
  byKind: Record<ProcessKind, number>;
  bench: number;
  /** Busy cores not accounted for by this benchmark's processes: other work on the machine. */
  others: number;
}

function kindOf(comm: string, args: () => string): ProcessKind | undefined {
  if (comm.startsWith('temporal')) return 'temporal';
  if (comm.startsWith('postgres')) return 'postgres';
  if (comm === 'node' || comm.startsWith('MainThread') || comm.startsWith('tsx') || comm === 'npm exec') {
    const line = args();
    if (line.includes('bin/service.ts api')) return 'api';
    if (line.includes('bin/service.ts worker')) return 'worker';
    return 'service';
  }
  return undefined;
}

export function cpuSnapshot(pgid: number | undefined): CpuSnapshot {
  let machine: number[] = [];
  try {
    machine = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    machine = [];
  }
  const procs = new Map<number, { kind: ProcessKind; ticks: number }>();
  if (pgid !== undefined) {
    let names: string[] = [];
    try {
      names = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    } catch {
      names = [];
    }
    const all = new Map<number, { ppid: number; pgrp: number; comm: string; ticks: number }>();
    for (const name of names) {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
        const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
        all.set(Number(name), { ppid: Number(fields[1]), pgrp: Number(fields[2]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
      } catch {
        // Ended meanwhile.
      }
    }
    const ofStack = (pid: number): boolean => {
      for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 32; hops += 1) {
        const entry = all.get(p);
        if (!entry) return false;
        if (entry.pgrp === pgid || p === pgid) return true;
        p = entry.ppid;
      }
      return false;
    };
    for (const [pid, entry] of all) {
      if (!ofStack(pid)) continue;
      const kind = kindOf(entry.comm, () => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        } catch {
          return '';
        }
      });
      if (kind) procs.set(pid, { kind, ticks: entry.ticks });
    }
  }
  return { at: performance.now(), machine, procs, bench: process.cpuUsage() };
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const seconds = Math.max(0.001, (b.at - a.at) / 1000);
  const d = (i: number) => (b.machine[i] ?? 0) - (a.machine[i] ?? 0);
  const total = [0, 1, 2, 3, 4, 5, 6, 7].reduce((sum, i) => sum + d(i), 0) || 1;
  const busy = ((d(0) + d(1) + d(2) + d(5) + d(6)) / total) * os.cpus().length;
  const byKind = Object.fromEntries(PROCESS_KINDS.map((k) => [k, 0])) as Record<ProcessKind, number>;
  // A process that started within the window counts from its start.
  for (const [pid, now] of b.procs) byKind[now.kind] += (now.ticks - (a.procs.get(pid)?.ticks ?? 0)) / CLK_TCK / seconds;
  const stack = PROCESS_KINDS.reduce((sum, k) => sum + byKind[k], 0);
  const bench = (b.bench.user + b.bench.system - a.bench.user - a.bench.system) / 1e6 / seconds;
  return {
    seconds,
    machine: busy,
    iowaitPct: (d(4) / total) * 100,
    stealPct: (d(7) / total) * 100,
    stack,
    byKind,
    bench,
    others: Math.max(0, busy - stack - bench),
  };
}

export const cores = (n: number) => n.toFixed(2);

/** The kinds that used anything in any of the windows (a single-process stack has no api or worker of its own). */
export const kindsUsed = (uses: CpuUse[]) => PROCESS_KINDS.filter((k) => uses.some((u) => u.byKind[k] > 0.005));

export const cpuLine = (c: CpuUse) =>
  `${kindsUsed([c])
    .map((k) => `${k} ${cores(c.byKind[k])}`)
    .join(', ')}, bench ${cores(c.bench)}, others ${cores(c.others)} (machine busy ${cores(c.machine)} of ${os.cpus().length}; iowait ${c.iowaitPct.toFixed(0)}%)`;
