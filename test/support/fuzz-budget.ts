import type { Parameters } from 'fast-check';

// The budget of ratchet's fuzz suites: a fixed number of runs per property by default, so a
// suite takes the same few seconds each time, multiplied by RATCHET_FUZZ_SCALE for longer
// (nightly) runs; the seed is fixed unless RATCHET_FUZZ_SEED gives one. A failing property
// prints its seed and counterexample (fast-check's report), which RATCHET_FUZZ_SEED replays.

/** RATCHET_FUZZ_SCALE (default 1): how many times the default runs to make. */
export const FUZZ_SCALE = positiveNumber(process.env.RATCHET_FUZZ_SCALE, 1);

/** RATCHET_FUZZ_SEED, else a fixed seed, so a default run is the same run every time. */
export const FUZZ_SEED = Math.trunc(positiveNumber(process.env.RATCHET_FUZZ_SEED, 20_261_203));

/** Runs for a property whose default budget is `runs`. */
export function fuzzRuns(runs: number): number {
  return Math.max(1, Math.round(runs * FUZZ_SCALE));
}

/** A test's timeout for a fuzz budget that takes about `ms` at scale 1. */
export function fuzzTimeoutMs(ms: number): number {
  return Math.round(ms * Math.max(1, FUZZ_SCALE));
}

/** fast-check parameters for a property with a default budget of `runs`. */
export function fuzzParameters<T>(runs: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: fuzzRuns(runs), endOnFailure: true, verbose: 1 };
}

function positiveNumber(text: string | undefined, fallback: number): number {
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${text} is not a positive number (RATCHET_FUZZ_SCALE / RATCHET_FUZZ_SEED)`);
  }
  return value;
}

/** How many generated runs an end-to-end suite keeps in flight at once, whatever the scale. */
export const FUZZ_CONCURRENCY = 48;

/**
 * `fn` over `items`, at most `limit` at a time, results in order. A suite submits its runs
 * this way so that a nightly-size budget tests ratchet's answers, not how many connections one
 * test process can open at once.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
