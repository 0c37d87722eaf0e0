import type { MetricsEndpoint } from './ratchet-processes';

// The garbage collector's work in ratchet's processes, read from the Prometheus metrics each
// serves (prom-client's nodejs_gc_duration_seconds, by kind of collection). Counts of
// collections are the steady figure on a shared machine: how often the young generation
// fills depends on what a step allocates, not on the load around it; their time does not.

/** Collections of one kind in one process: how many, and the seconds they took. */
export interface GcKind {
  count: number;
  seconds: number;
}

/** By process name (`api`, `worker`; workers summed), then by kind (`minor`, `major`, ...). */
export type GcTotals = Map<string, Map<string, GcKind>>;

const GC_LINE = /^nodejs_gc_duration_seconds_(count|sum)\{kind="([a-z]+)"\} ([0-9.e+-]+)$/;

/** The collections in Prometheus's text format, by kind. */
export function parseGcMetrics(text: string): Map<string, GcKind> {
  const kinds = new Map<string, GcKind>();
  for (const line of text.split('\n')) {
    const match = GC_LINE.exec(line.trim());
    if (!match) continue;
    const [, field, kind, value] = match;
    const totals = kinds.get(kind) ?? { count: 0, seconds: 0 };
    if (field === 'count') totals.count = Number(value);
    else totals.seconds = Number(value);
    kinds.set(kind, totals);
  }
  return kinds;
}

export async function readGc(endpoints: readonly MetricsEndpoint[]): Promise<GcTotals> {
  const totals: GcTotals = new Map();
  await Promise.all(
    endpoints.map(async ({ name, url, headers }) => {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
      const byKind = totals.get(name) ?? new Map<string, GcKind>();
      for (const [kind, gc] of parseGcMetrics(await response.text())) {
        const sum = byKind.get(kind) ?? { count: 0, seconds: 0 };
        byKind.set(kind, { count: sum.count + gc.count, seconds: sum.seconds + gc.seconds });
      }
      totals.set(name, byKind);
    }),
  );
  return totals;
}

/** What `after` has on top of `before`, per process and kind. */
export function gcBetween(before: GcTotals, after: GcTotals): GcTotals {
  const spent: GcTotals = new Map();
  for (const [name, kinds] of after) {
    const byKind = new Map<string, GcKind>();
    for (const [kind, gc] of kinds) {
      const earlier = before.get(name)?.get(kind) ?? { count: 0, seconds: 0 };
      byKind.set(kind, { count: gc.count - earlier.count, seconds: gc.seconds - earlier.seconds });
    }
    spent.set(name, byKind);
  }
  return spent;
}
