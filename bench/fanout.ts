import type { Pool } from 'pg';
import { cpuBetween, cpuPer, type CpuProbe, type NamedPid } from './cpu';
import { measureLatency, type LatencyOptions } from './latency';
import { PeakResident } from './memory';
import { RatchetClient } from './ratchet-client';
import { toolRoundShape, type Shape } from './shapes';
import { median, type Summary } from './stats';

// Workload d: the shape agents mostly have. One response is model -> 4 parallel tool calls ->
// model (6 steps), first one at a time for the per-step latency, then as a burst of foreground
// requests all at once for throughput, peak memory, WAL and CPU. The raw BullMQ + pg floor of
// the same shape runs the same two workloads in bench/fanout-floor.ts.

/** The fan-out of the round: the shape the workload is named for. */
export const FANOUT_CALLS = 4;

export function fanoutShape(): Shape {
  return toolRoundShape(FANOUT_CALLS);
}

export interface BurstResult {
  responses: number;
  steps: number;
  /** Wall time of each timed round, from the first submission to the last answer, ms. */
  roundsMs: number[];
  wallMs: number;
  stepsPerSecond: number;
  /** Peak resident set of the largest process of each kind over the timed rounds, MB. */
  peakResidentMb: Record<string, number>;
  /** The same peaks' private (anonymous) part, MB: what each process holds of its own. */
  peakPrivateMb: Record<string, number>;
  /** Postgres WAL written per response over the timed rounds, bytes. */
  walBytesPerResponse: number;
  /** CPU ms per response over the timed rounds, by process kind. */
  cpuPerResponse: Record<string, number>;
}

export interface FanoutResult {
  shape: Shape;
  /** End-to-end latency of one foreground response at a time, ms. */
  latency: Summary;
  /** latency p50 / steps: the per-step figure the floor is compared on. */
  perStepP50: number;
  burst: BurstResult;
}

export interface FanoutSettings {
  baseUrl: string;
  adminKey: string;
  responses: number;
  rounds: number;
  warmupRounds: number;
  pids: () => NamedPid[];
  cpu: CpuProbe;
  latency: LatencyOptions;
}

export async function measureFanout(
  client: RatchetClient,
  db: Pool,
  settings: FanoutSettings,
): Promise<FanoutResult> {
  const shape = fanoutShape();
  const latency = await measureLatency(client, shape, settings.latency);
  // One connection per request, as 2,000 clients waiting on their responses would hold.
  const burstClient = new RatchetClient(settings.baseUrl, settings.adminKey, settings.responses);
  try {
    const burst = await measureBurst(
      {
        rounds: settings.rounds,
        warmupRounds: settings.warmupRounds,
        responses: settings.responses,
        steps: shape.steps,
        pids: settings.pids,
        cpu: settings.cpu,
      },
      db,
      () => runBurst(burstClient, db, shape, settings.responses),
    );
    return {
      shape,
      latency: latency.latency,
      perStepP50: latency.latency.p50 / shape.steps,
      burst,
    };
  } finally {
    await burstClient.close();
  }
}

export interface BurstPlan {
  rounds: number;
  warmupRounds: number;
  responses: number;
  /** Steps per response. */
  steps: number;
  /** The processes whose peak memory and CPU count. */
  pids: () => readonly NamedPid[];
  cpu: CpuProbe;
}

/** Runs `round` untimed, then timed while sampling memory, CPU and WAL; ratchet and the floor alike. */
export async function measureBurst(
  plan: BurstPlan,
  db: Pool,
  round: () => Promise<number>,
): Promise<BurstResult> {
  // A checkpoint before the untimed rounds, so that none of Postgres's own (every 5 minutes)
  // falls in the timed ones: they measure WAL between checkpoints, the same for every run,
  // rather than the full-page images of whichever pages a checkpoint happened to precede.
  // bench:wal measures both (docs/wal.md). A role that may not checkpoint measures without.
  await db.query('CHECKPOINT').catch(() => undefined);
  for (let i = 0; i < plan.warmupRounds; i++) await round();
  const walBefore = await walPosition(db);
  const cpuBefore = await plan.cpu();
  const memory = new PeakResident(plan.pids);
  const roundsMs: number[] = [];
  let peakResidentMb: Record<string, number>;
  let peakPrivateMb: Record<string, number>;
  try {
    for (let i = 0; i < plan.rounds; i++) roundsMs.push(await round());
  } finally {
    peakResidentMb = memory.stop();
    peakPrivateMb = memory.privateStopped();
  }
  const spent = cpuBetween(cpuBefore, await plan.cpu());
  const wal = await walBytesSince(db, walBefore);
  const wallMs = median(roundsMs);
  const steps = plan.responses * plan.steps;
  return {
    responses: plan.responses,
    steps,
    roundsMs,
    wallMs,
    stepsPerSecond: (steps / wallMs) * 1000,
    peakResidentMb,
    peakPrivateMb,
    walBytesPerResponse: wal / (plan.responses * plan.rounds),
    cpuPerResponse: cpuPer(spent, plan.responses * plan.rounds),
  };
}

async function runBurst(
  client: RatchetClient,
  db: Pool,
  shape: Shape,
  responses: number,
): Promise<number> {
  const startedAt = performance.now();
  const answers = await Promise.all(
    Array.from({ length: responses }, () => client.create(shape.body)),
  );
  const wallMs = performance.now() - startedAt;
  const failed = answers.filter((answer) => answer.status !== 'completed');
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${responses} fan-out responses did not complete, e.g. ` +
        `${failed[0].id} ${failed[0].status}: ${JSON.stringify(failed[0].error)}`,
    );
  }
  const { rows } = await db.query<{ steps: number }>(
    'SELECT count(*)::int AS steps FROM steps WHERE response_id = ANY($1::text[])',
    [answers.map((answer) => answer.id)],
  );
  if (rows[0].steps !== responses * shape.steps) {
    throw new Error(`recorded ${rows[0].steps} steps, expected ${responses * shape.steps}`);
  }
  return wallMs;
}

/** The server's current WAL insert position. WAL is per server: other databases' writes count. */
export async function walPosition(db: Pool): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn() AS lsn');
  return rows[0].lsn;
}

export async function walBytesSince(db: Pool, lsn: string): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::text AS bytes',
    [lsn],
  );
  return Number(rows[0].bytes);
}
