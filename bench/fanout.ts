import type { Pool } from 'pg';
import type { CpuProbe, NamedPid } from './cpu';
import { RatchetClient, type ResponseSummary } from './ratchet-client';
import { toolRoundShape, type Shape } from './shapes';
import { nowMs, type Summary } from './stats';

// Workload d: the shape agents mostly have. One response is model -> 4 parallel tool calls ->
// model (6 steps), first one at a time for the per-step latency, then as a burst of foreground
// requests all at once for throughput, peak memory, WAL and CPU. The raw BullMQ + pg floor of
// the same shape (bench/fanout-floor.ts) runs beside it, and bench/fanout-interleaved.ts has
// the two take turns.

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

/** One system's figures on workload d: ratchet's, the floor's or a peer's. */
export interface FanoutMeasurement {
  /** Steps per response. */
  steps: number;
  /** End-to-end latency of one response at a time, ms. */
  latency: Summary;
  /** latency p50 / steps: the per-step figure the systems are compared on. */
  perStepP50: number;
  burst: BurstResult;
}

export interface FanoutResult extends FanoutMeasurement {
  shape: Shape;
}

/** One system running workload d, as bench/fanout-interleaved.ts drives it: ratchet or the floor. */
export interface FanoutSystem {
  /** Steps per response. */
  steps: number;
  /** Runs one response, alone, and checks it; its time end to end at its client, ms. */
  runOne(): Promise<number>;
  /**
   * Gets a burst of responses ready to go at once: whatever its client must hold open first
   * (ratchet's connections), which no one's clock counts.
   */
  openBurst(): Promise<Burst>;
  /** The processes whose peak memory and CPU count. */
  pids(): readonly NamedPid[];
  /** A CPU snapshot of those processes and of the Postgres backends serving them. */
  cpu: CpuProbe;
}

/** A burst made ready by FanoutSystem.openBurst. */
export interface Burst {
  /** Runs the burst and checks every step was recorded; its wall time, ms. */
  run(): Promise<number>;
  /** Lets go of what the burst held open. */
  close(): Promise<void>;
}

export interface RatchetFanoutSettings {
  baseUrl: string;
  adminKey: string;
  /** Responses per burst. */
  responses: number;
  pids: () => NamedPid[];
  cpu: CpuProbe;
}

/** ratchet's side of workload d: `client` one response at a time, clients of their own for bursts. */
export function ratchetFanout(
  client: RatchetClient,
  db: Pool,
  settings: RatchetFanoutSettings,
): FanoutSystem & { shape: Shape } {
  const shape = fanoutShape();
  return {
    shape,
    steps: shape.steps,
    runOne: async () => {
      const startedAt = nowMs();
      const answer = await client.create(shape.body);
      const ms = nowMs() - startedAt;
      await checkAnswers(db, shape, [answer]);
      return ms;
    },
    openBurst: async () => {
      // One connection per request, as 2,000 clients waiting on their responses hold, each
      // opened before the clock starts (by a GET /healthz on it), as a client's keep-alive pool
      // holds its connections: the floor's client, too, has its Redis connection open before
      // its clock starts. New ones every round, closed at its end, so no idle connection is
      // left for the API to time out (after Node's 5 s keep-alive) while the floor runs.
      const burstClient = new RatchetClient(
        settings.baseUrl,
        settings.adminKey,
        settings.responses,
      );
      try {
        await burstClient.open(settings.responses);
      } catch (error) {
        await burstClient.close();
        throw error;
      }
      return {
        run: async () => {
          const startedAt = nowMs();
          const answers = await Promise.all(
            Array.from({ length: settings.responses }, () => burstClient.create(shape.body)),
          );
          const ms = nowMs() - startedAt;
          await checkAnswers(db, shape, answers);
          return ms;
        },
        close: () => burstClient.close(),
      };
    },
    pids: settings.pids,
    cpu: settings.cpu,
  };
}

/** Throws unless every response completed and recorded the shape's steps. */
async function checkAnswers(db: Pool, shape: Shape, answers: ResponseSummary[]): Promise<void> {
  const failed = answers.filter((answer) => answer.status !== 'completed');
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${answers.length} fan-out responses did not complete, e.g. ` +
        `${failed[0].id} ${failed[0].status}: ${JSON.stringify(failed[0].error)}`,
    );
  }
  const { rows } = await db.query<{ steps: number }>(
    'SELECT count(*)::int AS steps FROM steps WHERE response_id = ANY($1::text[])',
    [answers.map((answer) => answer.id)],
  );
  if (rows[0].steps !== answers.length * shape.steps) {
    throw new Error(`recorded ${rows[0].steps} steps, expected ${answers.length * shape.steps}`);
  }
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
