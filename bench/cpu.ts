import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';

// CPU time per process from /proc (Linux), so a workload can say how much CPU each part of
// the system spent per response: on a 2-core machine, CPU is what caps throughput.

export interface NamedPid {
  /** Processes with the same name are summed (several workers, Postgres backends). */
  name: string;
  pid: number;
}

export type CpuSnapshot = Map<number, { name: string; ms: number }>;

const clockTicksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process in ms, or null when it is gone (or not Linux). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

export function snapshotCpu(pids: readonly NamedPid[]): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const { name, pid } of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) snapshot.set(pid, { name, ms });
  }
  return snapshot;
}

/**
 * CPU ms spent between two snapshots, by name. A process that appeared in between counts from
 * zero only if it is in `after` alone and was started in between, which is what a new
 * Postgres backend is; one that ended in between is lost (rare: pools keep connections).
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
  const spent = new Map<string, number>();
  for (const [pid, { name, ms }] of after) {
    const start = before.get(pid)?.ms ?? 0;
    spent.set(name, (spent.get(name) ?? 0) + (ms - start));
  }
  return spent;
}

/** The whole machine's CPU time so far, in clock ticks over all cores (/proc/stat). */
/** Adds what `spent` spent, by name, to the running totals of `total`. */
export function addCpu(total: Map<string, number>, spent: Map<string, number>): void {
  for (const [name, ms] of spent) total.set(name, (total.get(name) ?? 0) + ms);
}

export interface MachineCpu {
  /** Ticks idle, waiting for I/O included. */
  idle: number;
  /** Ticks in all: user, nice, system, idle, iowait, irq, softirq and steal. */
  total: number;
}

/** The machine's CPU time so far, or null where /proc/stat cannot be read (not Linux). */
export function machineCpu(): MachineCpu | null {
  try {
    const [first] = readFileSync('/proc/stat', 'utf8').split('\n', 1);
    const ticks = first.trim().split(/\s+/).slice(1, 9).map(Number);
    if (ticks.length < 8 || ticks.some((n) => !Number.isFinite(n))) return null;
    return { idle: ticks[3] + ticks[4], total: ticks.reduce((sum, n) => sum + n, 0) };
  } catch {
    return null;
  }
}

/** The share of the machine's CPU time left idle between two readings, null if unknown. */
export function idleShare(before: MachineCpu | null, after: MachineCpu | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (after.idle - before.idle) / (after.total - before.total);
}

/** Takes a CPU snapshot of every process that serves the workload. */
export type CpuProbe = () => Promise<CpuSnapshot>;

/** CPU ms by name, divided by `per` (responses or steps). */
export function cpuPer(spent: Map<string, number>, per: number): Record<string, number> {
  return Object.fromEntries([...spent].map(([name, ms]) => [name, ms / per]));
}

/** The application name the bench's own Postgres connections use, so they are not counted. */
export const BENCH_APPLICATION_NAME = 'ratchet-bench';

/**
 * The Postgres backends serving the bench database, other than the bench's own: those of the
 * application `only` when given, else all but those of the applications in `except` (the
 * fan-out floor's workers share the database with ratchet's processes, and each counts apart).
 */
export async function postgresBackends(
  db: Pool,
  { only, except = [] }: { only?: string; except?: readonly string[] } = {},
): Promise<NamedPid[]> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name <> $1
        AND ($2::text IS NULL OR application_name = $2)
        AND application_name <> ALL ($3::text[])`,
    [BENCH_APPLICATION_NAME, only ?? null, except],
  );
  return rows.map((row) => ({ name: 'postgres', pid: row.pid }));
}
