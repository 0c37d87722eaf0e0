import { readFileSync } from 'node:fs';
import type { NamedPid } from './cpu';

// Resident memory per process from /proc (Linux): what the machine really gives each process,
// heap, native code, buffers and the Prisma or WASM engines included.

// Resident memory counts the pages of node's own binary that the process has touched (about
// 47 MB for ratchet's processes): file-backed, and shared by every node process on the
// machine. The private (anonymous) part is what one more process really costs: the heap, the
// compiled code, native buffers. Both are reported.

/** /proc status field `field` (kB) of a process in MB, or null when it is gone (or not Linux). */
function statusMb(pid: number, field: 'VmRSS' | 'RssAnon'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** A process's resident set in MB, or null when it is gone (or not Linux). */
export function residentMb(pid: number): number | null {
  return statusMb(pid, 'VmRSS');
}

/** The private (anonymous) part of a process's resident set in MB, or null. */
export function privateMb(pid: number): number | null {
  return statusMb(pid, 'RssAnon');
}

/** Resident MB of each process now (or its private part), keyed `name pid`. */
export function residentNow(
  pids: readonly NamedPid[],
  read: (pid: number) => number | null = residentMb,
): Map<string, number> {
  const now = new Map<string, number>();
  for (const { name, pid } of pids) {
    const mb = read(pid);
    if (mb !== null) now.set(`${name} ${pid}`, mb);
  }
  return now;
}

/** The largest resident set of any process of each name, MB. */
export function largestByName(byProcess: ReadonlyMap<string, number>): Record<string, number> {
  const largest: Record<string, number> = {};
  for (const [key, mb] of byProcess) {
    const name = key.slice(0, key.lastIndexOf(' '));
    largest[name] = Math.max(largest[name] ?? 0, mb);
  }
  return largest;
}

/**
 * Samples the resident set of `pids` every `intervalMs` until stopped, and keeps each process's
 * peak. VmHWM would give the peak too, but over the process's whole life: a sampler gives the
 * peak of one workload even when an earlier one peaked higher.
 */
export class PeakResident {
  private readonly peaks = new Map<string, number>();
  private readonly privatePeaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => readonly NamedPid[],
    intervalMs = 50,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Stops sampling; the peak of the largest process of each name, MB. */
  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    return largestByName(this.peaks);
  }

  /** After stop: the peak of the private part of the largest process of each name, MB. */
  privateStopped(): Record<string, number> {
    return largestByName(this.privatePeaks);
  }

  private sample(): void {
    const pids = this.pids();
    for (const [peaks, read] of [
      [this.peaks, residentMb],
      [this.privatePeaks, privateMb],
    ] as const) {
      for (const [key, mb] of residentNow(pids, read)) {
        peaks.set(key, Math.max(peaks.get(key) ?? 0, mb));
      }
    }
  }
}
