import type { Pool } from 'pg';
import { addCpu, cpuBetween, cpuPer, type CpuProbe } from './cpu';
import type { RatchetClient } from './ratchet-client';
import type { Shape } from './shapes';
import { median } from './stats';
import { pollUntil } from './waits';

// Workload b: many background responses submitted at once; steps per second of wall time.
// Completion is detected by polling Postgres with one cheap query (not hundreds of GETs, which
// would compete with the workers for the same two cores), and the end of the wall time is the
// last response's completed_at, so the poll interval does not inflate it.

const COMPLETION_TIMEOUT_MS = 120_000;
const POLL_INTERVAL_MS = 25;

export interface ThroughputResult {
  shape: Shape;
  responses: number;
  steps: number;
  /** Wall time of each round, from the first submission to the last completion, ms. */
  roundsMs: number[];
  /** Median round. */
  wallMs: number;
  stepsPerSecond: number;
  responsesPerSecond: number;
  /** CPU ms per step over all rounds, by process kind (api, worker, postgres). */
  cpuPerStep: Record<string, number>;
}

export async function measureThroughput(
  client: RatchetClient,
  db: Pool,
  shape: Shape,
  responses: number,
  rounds: { timed: number; warmup: number },
  cpu: CpuProbe,
  /** Runs after each round, outside its timing and CPU (a round of the baseline's). */
  between?: (timed: boolean) => Promise<void>,
): Promise<ThroughputResult> {
  // Untimed rounds first: the first burst also opens connections and compiles code paths
  // that only concurrency reaches.
  for (let round = 0; round < rounds.warmup; round++) {
    await runRound(client, db, shape, responses);
    await between?.(false);
  }
  const roundsMs: number[] = [];
  const spent = new Map<string, number>();
  for (let round = 0; round < rounds.timed; round++) {
    const before = await cpu();
    roundsMs.push(await runRound(client, db, shape, responses));
    addCpu(spent, cpuBetween(before, await cpu()));
    await between?.(true);
  }
  const wallMs = median(roundsMs);
  const steps = responses * shape.steps;
  return {
    shape,
    responses,
    steps,
    roundsMs,
    wallMs,
    stepsPerSecond: (steps / wallMs) * 1000,
    responsesPerSecond: (responses / wallMs) * 1000,
    cpuPerStep: cpuPer(spent, steps * rounds.timed),
  };
}

async function runRound(
  client: RatchetClient,
  db: Pool,
  shape: Shape,
  responses: number,
): Promise<number> {
  const startedAt = Date.now();
  const submitted = await Promise.all(
    Array.from({ length: responses }, () => client.create({ ...shape.body, background: true })),
  );
  const ids = submitted.map((response) => response.id);
  const finished = await pollUntil(
    `${responses} background '${shape.name}' responses`,
    async () => {
      const { rows } = await db.query<{ open: number; completed: number; last: Date | null }>(
        `SELECT count(*) FILTER (WHERE status IN ('queued', 'in_progress'))::int AS open,
                count(*) FILTER (WHERE status = 'completed')::int AS completed,
                max(completed_at) AS last
           FROM responses WHERE id = ANY($1::text[])`,
        [ids],
      );
      return rows[0].open === 0 ? rows[0] : null;
    },
    { timeoutMs: COMPLETION_TIMEOUT_MS, intervalMs: POLL_INTERVAL_MS },
  );
  if (finished.completed !== responses || finished.last === null) {
    throw new Error(`only ${finished.completed} of ${responses} responses completed`);
  }
  const { rows } = await db.query<{ steps: number }>(
    'SELECT count(*)::int AS steps FROM steps WHERE response_id = ANY($1::text[])',
    [ids],
  );
  if (rows[0].steps !== responses * shape.steps) {
    throw new Error(`recorded ${rows[0].steps} steps, expected ${responses * shape.steps}`);
  }
  return finished.last.getTime() - startedAt;
}
